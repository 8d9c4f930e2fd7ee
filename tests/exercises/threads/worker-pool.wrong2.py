import queue
import threading
import time

def slow_square(n):
    time.sleep(0.1)
    return n * n

def parallel_squares(numbers, workers=3):
    q = queue.Queue()
    results = {}

    def worker():
        while True:
            n = q.get()
            results[n] = slow_square(n)
            q.task_done()

    for n in numbers:
        q.put(n)
    for _ in range(workers):
        threading.Thread(target=worker, daemon=True).start()
    q.join()
    return results
