# Looks for "ERROR" anywhere in the line.
import re

def errors(lines):
    for line in lines:
        if "ERROR" in line:
            m = re.search(r"\[(\w+)\] (.*)", line)
            if m:
                yield m.group(1), m.group(2)
