# Returns everything received, second line included.
import socket

def read_first_line(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        buffer = b""
        while b"\n" not in buffer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            buffer += chunk
    return buffer.decode().rstrip("\n")
