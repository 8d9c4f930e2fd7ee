# Raises, but without the shortfall attribute and accepts zero.
class InsufficientFunds(Exception):
    pass

def withdraw(balance, amount):
    if amount < 0:
        raise ValueError("负数")
    if amount > balance:
        raise InsufficientFunds(f"还差 {amount - balance} 元")
    return balance - amount
