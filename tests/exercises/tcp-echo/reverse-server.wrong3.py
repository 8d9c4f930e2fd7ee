# Counts recv calls as messages and decodes each chunk: a line split over two
# sends, or several lines in one chunk, break it.
import socket

def serve_reverse(port):
    count = 0
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data.decode()[::-1].encode())
                count += 1
    return count
