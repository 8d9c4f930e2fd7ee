# Opens with "w": each call replaces what was there.
import os

def append_log(path, message):
    with open(path, "w", encoding="utf-8") as f:
        f.write(message + "\n")

def read_log(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()
