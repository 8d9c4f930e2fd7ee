# Late binding: every function sees the last i.
def make_multipliers(n):
    return [lambda x: x * i for i in range(n)]
