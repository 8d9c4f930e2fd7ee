# Broadcasts to 255.255.255.255: the sandbox has no LAN, so the network is unreachable.
import socket

def discover(port, timeout=0.5):
    names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.settimeout(timeout)
        s.sendto(b"WHO", ("255.255.255.255", port))
        while True:
            try:
                names.append(s.recvfrom(1024)[0].decode())
            except TimeoutError:
                return sorted(names)
