# Adds into stock itself: the caller's dictionary changes.
def merge_stock(stock, delivery):
    for name, n in delivery.items():
        stock[name] = stock.get(name, 0) + n
    return stock
