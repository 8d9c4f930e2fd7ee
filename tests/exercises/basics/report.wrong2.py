def report(name, scores):
    if not scores:
        return f"{name}: 无成绩"
    return f"{name}: {sum(scores) // len(scores)} {max(scores)}"
