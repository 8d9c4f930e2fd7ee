# uniq without sort: it only merges neighbouring duplicates.
import subprocess

def count_words(words):
    output = subprocess.run(["uniq", "-c"], input="".join(w + "\n" for w in words), capture_output=True, text=True).stdout
    counts = {}
    for line in output.splitlines():
        n, word = line.split()
        counts[word] = int(n)            # 不相邻的重复会覆盖前面的计数
    return counts
