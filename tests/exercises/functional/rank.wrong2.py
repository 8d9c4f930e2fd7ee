# reverse=True reverses the names of equal scores too.
def rank(students):
    return [name for name, _ in sorted(students, key=lambda s: (s[1], s[0]), reverse=True)]
