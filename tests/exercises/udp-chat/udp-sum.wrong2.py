import socket

def serve(port, count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        while True:
            data, addr = sock.recvfrom(1024)
            total = sum(int(x) for x in data.decode().split(","))
            sock.sendto(str(total).encode(), addr)

