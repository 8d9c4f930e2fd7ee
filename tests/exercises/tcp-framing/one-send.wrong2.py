# The header, a pause, then the body: they cannot help crossing as two segments.
import socket
import struct
import time

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the connection closed in the middle of a message")
        buf += chunk
    return bytes(buf)

def ask(port, questions):
    answers = []
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for q in questions:
            conn.sendall(struct.pack("!I", len(q)))
            time.sleep(0.05)
            conn.sendall(q)
            (length,) = struct.unpack("!I", recv_exact(conn, 4))
            answers.append(recv_exact(conn, length))
    return answers
