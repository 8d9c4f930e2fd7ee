# Compares the first prefix // 8 bytes: wrong for prefixes that are not multiples of 8.
def same_network(a, b, prefix):
    pa, pb = a.split("."), b.split(".")
    if any(not 0 <= int(x) <= 255 for x in pa + pb):
        raise ValueError("bad address")
    return pa[:prefix // 8] == pb[:prefix // 8]
