# One recv for the body: a 70000-byte message arrives in pieces.
import socket
import struct
import threading

def handle(conn):
    with conn:
        while (head := conn.recv(4)):
            body = conn.recv(struct.unpack("!I", head)[0])
            reply = body.upper()
            conn.sendall(struct.pack("!I", len(reply)) + reply)

def serve_upper(port, clients):
    with socket.create_server(("127.0.0.1", port)) as server:
        threads = []
        for _ in range(clients):
            conn, _ = server.accept()
            t = threading.Thread(target=handle, args=(conn,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
    return clients
