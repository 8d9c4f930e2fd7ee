# One recv: a long line arrives in pieces.
import socket

def read_first_line(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        data = conn.recv(1 << 20)
    return data.split(b"\n", 1)[0].decode(errors="replace")
