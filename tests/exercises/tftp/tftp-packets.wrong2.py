import struct

def build_request(opcode, filename, mode="octet"):
    return struct.pack("!H", opcode) + filename.encode() + b"\0" + mode.encode()

def parse_error(packet):
    code = packet[3]
    return code, packet[4:].decode()
