# Forgets SO_BROADCAST: the kernel refuses the send (PermissionError).
import socket

def discover(port, timeout=0.5):
    names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"WHO", ("127.255.255.255", port))
        while True:
            try:
                names.append(s.recvfrom(1024)[0].decode())
            except TimeoutError:
                return sorted(names)
