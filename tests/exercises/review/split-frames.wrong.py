# Reads only the last header byte as the length: bodies over 255 bytes break.
def split_frames(buffer):
    messages, pos = [], 0
    while len(buffer) - pos >= 4:
        n = buffer[pos + 3]
        if pos + 4 + n > len(buffer):
            break
        messages.append(buffer[pos + 4:pos + 4 + n])
        pos += 4 + n
    return messages, buffer[pos:]
