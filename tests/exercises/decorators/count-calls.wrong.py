# One counter shared by every decorated function.
import functools

total = {"calls": 0}

def count_calls(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        total["calls"] += 1
        wrapper.calls = total["calls"]
        return func(*args, **kwargs)
    wrapper.calls = 0
    return wrapper
