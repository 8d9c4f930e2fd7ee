def calc(tokens):
    op = tokens[0]
    if op == "add":
        return tokens[1] + tokens[2]
    if op == "mul":
        return tokens[1] * tokens[2]
    if op == "neg":
        return -tokens[1]
    if op == "sum":
        return sum(tokens[1:])
    return "error"
