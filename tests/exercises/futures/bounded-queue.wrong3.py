# Last in, first out: blocks correctly but hands out the newest item.
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
            item = self.items.pop()
            self.cond.notify_all()
            return item

    def __len__(self):
        return len(self.items)
