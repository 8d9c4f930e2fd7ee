def to_int(ip):
    a, b, c, d = map(int, ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d

def to_text(n):
    return ".".join(str((n >> shift) & 255) for shift in (24, 16, 8, 0))

def subnet_info(ip, prefix):
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    network = to_int(ip) & mask
    broadcast = network | ~mask
    return to_text(network), to_text(broadcast), 2 ** (32 - prefix)
