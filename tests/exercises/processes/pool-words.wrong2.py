import multiprocessing as mp

def word_count(text):
    return len(text.split(" "))

def count_words(texts):
    with mp.Pool(processes=2) as pool:
        return pool.map(word_count, texts)
