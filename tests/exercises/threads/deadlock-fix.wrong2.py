# No deadlock, but the two balances change under separate locks: not one transfer.
import threading

class Account:
    def __init__(self, number, balance):
        self.number = number
        self.balance = balance
        self.lock = threading.Lock()

def transfer(source, target, amount):
    with source.lock:
        source.balance -= amount
    with target.lock:
        target.balance += amount
