# Runs sort, then hands its output to uniq through Python: not a pipe between the two.
import subprocess

def count_words(words):
    sorted_text = subprocess.run(["sort"], input="".join(w + "\n" for w in words), capture_output=True, text=True).stdout
    output = subprocess.run(["uniq", "-c"], input=sorted_text, capture_output=True, text=True).stdout
    return {line.split()[1]: int(line.split()[0]) for line in output.splitlines()}
