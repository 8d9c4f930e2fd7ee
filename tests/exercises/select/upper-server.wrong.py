# One connection at a time: the third client, connected last, gets no answer
# while the server waits on the first.
import socket

def serve_upper(port, clients):
    with socket.create_server(("127.0.0.1", port)) as server:
        for _ in range(clients):
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data.upper())
    return clients
