class Node:
    def __init__(self, value):
        self.value = value
        self.next = None

def make_ring(n):
    nodes = [Node(i) for i in range(n)]
    for i in range(n - 1):
        nodes[i].next = nodes[i + 1]
    return nodes[0]

def ring_size(start):
    count, node = 1, start.next
    while node is not None and node is not start:
        count += 1
        node = node.next
    return count
