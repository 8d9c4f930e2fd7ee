# Splits on spaces: lowercase methods and non-numeric versions slip through.
def parse_request_line(line):
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    return {"method": parts[0], "target": parts[1], "version": parts[2][5:]}
