# The classic pitfall: one list shared by every call.
def add_item(item, bucket=[]):
    bucket.append(item)
    return bucket
