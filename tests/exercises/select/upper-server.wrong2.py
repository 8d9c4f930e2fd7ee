# Ignores b"" (the peer's FIN): the half-closed client never sees its connection
# closed, and the function never returns.
import selectors
import socket

def serve_upper(port, clients):
    sel = selectors.DefaultSelector()
    server = socket.create_server(("127.0.0.1", port))
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is server:
                conn, _ = server.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
            else:
                data = key.fileobj.recv(1024)
                if data:
                    key.fileobj.sendall(data.upper())
                else:
                    sel.unregister(key.fileobj)   # stops watching but never closes
