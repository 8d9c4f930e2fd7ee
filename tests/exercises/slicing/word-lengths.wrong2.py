def word_lengths(text):
    return {w.lower(): len(w) for w in text.split(" ") if len(w) >= 3}

def labels(nums):
    return ("+" if n > 0 else "-" if n < 0 else "0" for n in nums)
