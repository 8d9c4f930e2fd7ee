def summary(precision=2, *numbers):
    if not numbers:
        return 0, None
    total = sum(numbers)
    return total, round(total / len(numbers), precision)
