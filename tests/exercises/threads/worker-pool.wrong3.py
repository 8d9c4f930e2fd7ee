# One thread per number instead of `workers` threads: six squares at once.
import threading
import time

def slow_square(n):
    time.sleep(0.1)
    return n * n

def parallel_squares(numbers, workers=3):
    results = {}

    def one(n):
        results[n] = slow_square(n)

    threads = [threading.Thread(target=one, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
