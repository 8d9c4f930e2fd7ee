def subnet_info(ip, prefix):
    parts = ip.split(".")
    keep = prefix // 8
    network = parts[:keep] + ["0"] * (4 - keep)
    broadcast = parts[:keep] + ["255"] * (4 - keep)
    return ".".join(network), ".".join(broadcast), 2 ** (32 - prefix) - 2
