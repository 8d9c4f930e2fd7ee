# Without the modulo: k larger than the length does nothing useful.
def rotate(seq, k):
    return seq[k:] + seq[:k]
