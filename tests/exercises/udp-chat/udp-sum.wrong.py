import socket

def serve(port, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    for _ in range(count):
        data, addr = sock.recvfrom(1024)
        total = sum(int(x) for x in data.decode().split(",") if x.isdigit())
        sock.sendto(str(total).encode(), addr)
    sock.close()
