# Returns a copy: the caller's list is not the one returned.
def add_item(item, bucket=None):
    return (bucket or []) + [item]
