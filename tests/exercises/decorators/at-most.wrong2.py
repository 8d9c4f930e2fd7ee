import functools

calls = 0

def at_most(n):
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            global calls
            if calls >= n:
                raise RuntimeError("too many calls")
            calls += 1
            return func(*args, **kwargs)
        return wrapper
    return decorator
