total = 0

def make_accumulator(start):
    global total
    total = start
    def add(x):
        global total
        total += x
        return total
    return add
