# Overwrites instead of adding.
def merge_stock(stock, delivery):
    return {**stock, **delivery}
