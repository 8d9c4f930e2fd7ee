import json

def save_scores(path, scores):
    with open(path, "a", encoding="utf-8") as f:
        json.dump(scores, f, ensure_ascii=False)

def load_top(path, n):
    with open(path, encoding="utf-8") as f:
        scores = json.load(f)
    return sorted(scores, key=scores.get)[:n]
