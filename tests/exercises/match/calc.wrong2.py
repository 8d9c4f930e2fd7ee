def calc(tokens):
    match tokens:
        case ["add", a, b]:
            return a + b
        case ["mul", a, b]:
            return a * b
        case ["neg", a]:
            return -a
        case ["sum", first, *nums]:
            return first + sum(nums)
        case _:
            return "error"
