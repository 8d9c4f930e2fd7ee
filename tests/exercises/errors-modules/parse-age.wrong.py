class AgeError(ValueError):
    pass

def parse_age(text):
    try:
        age = int(text)
    except ValueError:
        raise AgeError("not a number")
    if not 0 <= age <= 150:
        raise AgeError("out of range")
    return age
