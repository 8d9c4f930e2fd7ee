# Sorts by score only: ties keep their input order.
def rank(students):
    return [name for name, _ in sorted(students, key=lambda s: s[1], reverse=True)]
