# Header names kept as sent (X-Lesson), and the status code left as a string.
import socket

def fetch(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile("rb") as f:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        status = f.readline().decode().split()[1]
        headers = {}
        while (line := f.readline().decode("latin-1").strip()):
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
        return status, headers, f.read(int(headers.get("Content-Length", "0")))
