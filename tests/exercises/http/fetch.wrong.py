# No Host header: an HTTP/1.1 server answers 400.
import socket

def fetch(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile("rb") as f:
        conn.sendall(f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        status = int(f.readline().split()[1])
        headers = {}
        while (line := f.readline().decode("latin-1").strip()):
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return status, headers, f.read(int(headers.get("content-length", "0")))
