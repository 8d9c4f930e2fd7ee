import time

def slow_square(n):
    time.sleep(0.1)
    return n * n

def parallel_squares(numbers, workers=3):
    return {n: slow_square(n) for n in numbers}
