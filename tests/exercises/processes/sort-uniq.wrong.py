# Counts in Python: no sort, no uniq, no pipeline.
from collections import Counter

def count_words(words):
    return dict(Counter(words))
