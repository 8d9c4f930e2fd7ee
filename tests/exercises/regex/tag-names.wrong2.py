# Counts closing tags too.
import re

def tag_names(html):
    return re.findall(r"</?([a-z0-9]+)", html)
