# Receives one file and stops.
import hashlib
import os
import socket
import struct

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("连接中途断开")
        buf += chunk
    return bytes(buf)

def recv_msg(sock):
    first = sock.recv(1)
    if not first:
        return None                          # 在两条消息之间正常关闭
    (n,) = struct.unpack("!I", first + recv_exact(sock, 3))
    return recv_exact(sock, n)

def send_msg(sock, data):
    sock.sendall(struct.pack("!I", len(data)) + data)

def receive_files(port, folder):
    names = []
    with socket.create_server(("127.0.0.1", port)) as server:
        conn, _ = server.accept()
        with conn:
            if (raw_name := recv_msg(conn)) is not None:
                name = os.path.basename(raw_name.decode())
                content = recv_msg(conn)
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(content)
                send_msg(conn, hashlib.sha256(content).hexdigest().encode())
                names.append(name)
    return names
