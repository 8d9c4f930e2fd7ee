# Reads every line into a list first: not lazy.
import re

def errors(lines):
    found = [re.fullmatch(r"\S+ \S+ (\w+) \[(\w+)\] (.*)", line) for line in list(lines)]
    for m in found:
        if m and m.group(1) == "ERROR":
            yield m.group(2), m.group(3)
