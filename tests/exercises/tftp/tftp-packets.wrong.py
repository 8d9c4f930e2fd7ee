import struct

def build_request(opcode, filename, mode="octet"):
    return struct.pack("<H", opcode) + filename.encode() + b"\0" + mode.encode() + b"\0"

def parse_error(packet):
    opcode, code = struct.unpack("<HH", packet[:4])
    return code, packet[4:].rstrip(b"\0").decode()
