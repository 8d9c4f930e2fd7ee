# Takes a short last message as if it were whole, leaving nothing for next time.
import struct

def split_frames(buffer):
    messages, pos = [], 0
    while len(buffer) - pos >= 4:
        (n,) = struct.unpack("!I", buffer[pos:pos + 4])
        messages.append(buffer[pos + 4:pos + 4 + n])
        pos += 4 + n
    return messages, buffer[pos:] if pos < len(buffer) else b""
