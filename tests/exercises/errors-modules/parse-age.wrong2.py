class AgeError(Exception):
    pass

def parse_age(text):
    try:
        age = int(text)
    except ValueError as e:
        raise AgeError("not a number") from e
    if not 0 < age < 150:
        raise AgeError("out of range")
    return age
