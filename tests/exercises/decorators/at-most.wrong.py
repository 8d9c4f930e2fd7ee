def at_most(n):
    def decorator(func):
        calls = 0
        def wrapper(*args, **kwargs):
            nonlocal calls
            if calls >= n:
                raise RuntimeError("too many calls")
            calls += 1
            return func(*args, **kwargs)
        return wrapper
    return decorator
