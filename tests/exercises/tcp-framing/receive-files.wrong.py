# One recv per message: a 1 MiB file does not arrive in one piece.
import hashlib
import os
import socket
import struct

def receive_files(port, folder):
    names = []
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
        with conn:
            while head := conn.recv(4):
                name = os.path.basename(conn.recv(struct.unpack("!I", head)[0]).decode())
                (n,) = struct.unpack("!I", conn.recv(4))
                content = conn.recv(n)
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(content)
                digest = hashlib.sha256(content).hexdigest().encode()
                conn.sendall(struct.pack("!I", len(digest)) + digest)
                names.append(name)
    return names
