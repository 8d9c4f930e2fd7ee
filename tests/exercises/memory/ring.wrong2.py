class Node:
    def __init__(self, value):
        self.value = value
        self.next = None

_keep = []

def make_ring(n):
    nodes = [Node(i) for i in range(n)]
    _keep.extend(nodes)
    for i, node in enumerate(nodes):
        node.next = nodes[(i + 1) % n]
    return nodes[0]

def ring_size(start):
    count, node = 1, start.next
    while node is not start:
        count += 1
        node = node.next
    return count
