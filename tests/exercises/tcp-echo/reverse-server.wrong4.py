# Waits for whole lines but decodes each recv chunk: half a character breaks it.
import socket

def serve_reverse(port):
    count = 0
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
        with conn:
            text = ""
            while data := conn.recv(1024):
                text += data.decode()
                while "\n" in text:
                    line, text = text.split("\n", 1)
                    conn.sendall((line[::-1] + "\n").encode())
                    count += 1
    return count
