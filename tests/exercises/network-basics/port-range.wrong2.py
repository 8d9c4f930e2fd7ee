# No range check: 70000 is called dynamic, "80" raises TypeError.
def port_range(port):
    if port <= 1023:
        return "系统端口"
    if port <= 49151:
        return "用户端口"
    return "动态端口"
