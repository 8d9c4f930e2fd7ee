def summary(*numbers, precision=2):
    total = sum(numbers)
    return total, round(total / len(numbers), precision)
