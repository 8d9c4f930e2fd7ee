# search without anchors: extra text before or after the line is accepted.
import re

def parse_request_line(line):
    m = re.search(r"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/(?P<version>\d\.\d)", line)
    return m.groupdict() if m else None
