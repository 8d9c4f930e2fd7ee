# Counts but never breaks the ring: the nodes stay alive until gc runs.
class Node:
    def __init__(self, name):
        self.name = name
        self.next = None

def break_ring(start):
    count, node = 1, start.next
    while node is not start:
        count += 1
        node = node.next
    return count
