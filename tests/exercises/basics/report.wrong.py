def report(name, scores):
    avg = sum(scores) / len(scores)
    return f"{name}: {round(avg, 1)} {max(scores)}"
