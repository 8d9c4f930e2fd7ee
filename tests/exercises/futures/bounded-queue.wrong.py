# Never blocks: put on a full queue and get on an empty one return at once.
class BoundedQueue:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = []

    def put(self, item):
        self.items.append(item)

    def get(self):
        return self.items.pop(0) if self.items else None

    def __len__(self):
        return len(self.items)
