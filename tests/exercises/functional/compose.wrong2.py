def compose(*funcs):
    def composed(x):
        for f in reversed(funcs):
            x = f(x)
        return x
    return composed

def by_length_then_alpha(words):
    return sorted(words, key=len)
