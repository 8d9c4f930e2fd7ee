# The lesson's starting code: opposite transfers lock in opposite orders and deadlock.
import threading

class Account:
    def __init__(self, number, balance):
        self.number = number
        self.balance = balance
        self.lock = threading.Lock()

def transfer(source, target, amount):
    with source.lock:                         # 先锁转出的账户……
        with target.lock:                     # ……再锁转入的账户
            source.balance -= amount
            target.balance += amount
