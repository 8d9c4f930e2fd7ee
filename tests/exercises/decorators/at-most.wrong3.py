import functools

def at_most(n):
    def decorator(func):
        calls = 0
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls > n:
                return None
            return func(*args, **kwargs)
        return wrapper
    return decorator
