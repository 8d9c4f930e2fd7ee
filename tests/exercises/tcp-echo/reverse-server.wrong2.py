import socket

def serve_reverse(port):
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(data.decode()[::-1].encode())
