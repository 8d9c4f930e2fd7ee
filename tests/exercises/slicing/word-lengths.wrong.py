def word_lengths(text):
    return {w: len(w) for w in text.split() if len(w) > 3}

def labels(nums):
    return ["+" if n > 0 else "-" for n in nums]
