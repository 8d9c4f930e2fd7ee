# Stops at the first reply.
import socket

def discover(port, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.settimeout(timeout)
        s.sendto(b"WHO", ("127.255.255.255", port))
        try:
            return [s.recvfrom(1024)[0].decode()]
        except TimeoutError:
            return []
