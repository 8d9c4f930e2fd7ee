# 错误的解法：发出的 DATA 丢了 ACK 时从不重传，只是一直等下去。
import os
import socket
import struct

PORT = 6970
BLOCK = 512
TIMEOUT, RETRIES = 1.0, 5

def error(code, message):
    return struct.pack("!HH", 5, code) + message.encode() + b"\0"

def wait_for(sock, peer, want_opcode, want_block):
    """等对方的某个报文；返回它的数据部分，超时返回 None。陌生端口的包回 ERROR 5。"""
    while True:
        try:
            packet, addr = sock.recvfrom(BLOCK + 4)
        except socket.timeout:
            return None
        if addr != peer:
            sock.sendto(error(5, "Unknown transfer ID"), addr)
            continue
        if len(packet) >= 4 and struct.unpack("!HH", packet[:4]) == (want_opcode, want_block % 65536):
            return packet[4:]

def exchange(sock, peer, packet, want_opcode, want_block):
    """发出 packet，直到收到期望的回应；重传 RETRIES 次仍没有就放弃。"""
    sock.sendto(packet, peer)                  # 错误：只发一次，丢了也不重传
    while True:
        reply = wait_for(sock, peer, want_opcode, want_block)
        if reply is not None:
            return reply

def send_file(sock, peer, path):
    with open(path, "rb") as f:
        content = f.read()
    block = 1
    while True:
        chunk = content[(block - 1) * BLOCK: block * BLOCK]
        exchange(sock, peer, struct.pack("!HH", 3, block % 65536) + chunk, 4, block)
        if len(chunk) < BLOCK:
            return
        block += 1

def receive_file(sock, peer, path):
    received = bytearray()
    block = 0
    while True:
        payload = exchange(sock, peer, struct.pack("!HH", 4, block % 65536), 3, block + 1)
        block += 1
        received += payload
        if len(payload) < BLOCK:
            break
    with open(path, "wb") as f:                # 先存盘，再发最后一个 ACK
        f.write(received)
    sock.sendto(struct.pack("!HH", 4, block % 65536), peer)

def serve_one(listener):
    packet, peer = listener.recvfrom(1024)
    opcode, = struct.unpack("!H", packet[:2])
    if opcode not in (1, 2):
        return
    filename = packet[2:].split(b"\0")[0].decode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        if "/" in filename or filename.startswith("."):
            sock.sendto(error(2, "Access violation"), peer)
        elif opcode == 1 and not os.path.isfile(filename):
            sock.sendto(error(1, "File not found"), peer)
        elif opcode == 2 and os.path.exists(filename):
            sock.sendto(error(6, "File already exists"), peer)
        else:
            try:
                (send_file if opcode == 1 else receive_file)(sock, peer, filename)
                print("完成", "RRQ" if opcode == 1 else "WRQ", filename)
            except TimeoutError as e:
                print("放弃", filename, e)

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
    listener.bind(("127.0.0.1", PORT))
    print("TFTP 服务器在 127.0.0.1:", PORT)
    while True:
        serve_one(listener)
