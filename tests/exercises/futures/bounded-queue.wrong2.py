# Waits, but get never notifies: a producer waiting on a full queue sleeps forever.
import threading

class BoundedQueue:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = []
        self.cond = threading.Condition()

    def put(self, item):
        with self.cond:
            self.cond.wait_for(lambda: len(self.items) < self.capacity)
            self.items.append(item)
            self.cond.notify_all()

    def get(self):
        with self.cond:
            self.cond.wait_for(lambda: self.items)
            return self.items.pop(0)

    def __len__(self):
        return len(self.items)
