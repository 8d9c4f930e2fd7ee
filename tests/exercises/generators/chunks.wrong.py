# Turns the input into a list first: not lazy (it would never finish on an infinite source).
def chunks(iterable, size):
    items = list(__import__("itertools").islice(iterable, 1000))
    for i in range(0, len(items), size):
        yield items[i:i + size]
