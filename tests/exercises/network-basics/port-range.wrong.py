# Off by one at both boundaries.
def port_range(port):
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(port)
    if port < 1023:
        return "系统端口"
    if port < 49151:
        return "用户端口"
    return "动态端口"
