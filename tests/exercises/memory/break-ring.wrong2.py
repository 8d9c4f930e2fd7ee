# Breaks only the link out of start, and miscounts.
class Node:
    def __init__(self, name):
        self.name = name
        self.next = None

def break_ring(start):
    count, node = 0, start.next
    while node is not start:
        count += 1
        node = node.next
    start.next = None
    return count
