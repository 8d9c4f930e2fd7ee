# Greedy: one match runs from the first < to the last >.
import re

def tag_names(html):
    return [m.split()[0].strip("/") for m in re.findall(r"<(.+)>", html) if not m.startswith("/")]
