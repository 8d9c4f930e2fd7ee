def word_count(text):
    return len(text.split())

def count_words(texts):
    return [word_count(t) for t in texts]
