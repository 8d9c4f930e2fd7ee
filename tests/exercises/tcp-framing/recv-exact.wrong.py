import struct

def recv_exact(sock, n):
    return sock.recv(n)

def recv_msg(sock):
    (length,) = struct.unpack("!I", recv_exact(sock, 4))
    return recv_exact(sock, length)
