# Returns an error message instead of raising.
class InsufficientFunds(Exception):
    pass

def withdraw(balance, amount):
    if amount <= 0:
        return "金额错误"
    if amount > balance:
        return f"还差 {amount - balance} 元"
    return balance - amount
