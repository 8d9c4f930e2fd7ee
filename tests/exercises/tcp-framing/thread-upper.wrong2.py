# Returns as soon as it has accepted every client, without waiting for them to leave.
import socket
import struct
import threading

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)

def handle(conn):
    with conn:
        while (head := recv_exact(conn, 4)) is not None:
            (n,) = struct.unpack("!I", head)
            body = recv_exact(conn, n)
            if body is None:
                return
            reply = body.decode().upper().encode()
            conn.sendall(struct.pack("!I", len(reply)) + reply)

def serve_upper(port, clients):
    with socket.create_server(("127.0.0.1", port)) as server:
        threads = []
        for _ in range(clients):
            conn, _ = server.accept()
            t = threading.Thread(target=handle, args=(conn,))
            t.start()
            threads.append(t)
    return clients
