# Returns a list whatever came in.
def rotate(seq, k):
    if not seq:
        return seq
    k %= len(seq)
    return list(seq[k:]) + list(seq[:k])
