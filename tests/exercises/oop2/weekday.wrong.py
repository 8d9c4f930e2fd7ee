# No wrap-around: SUNDAY.next() raises ValueError (there is no Weekday(8)).
from enum import Enum, unique

@unique
class Weekday(Enum):
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    def is_weekend(self):
        return self.value >= 6

    def next(self):
        return Weekday(self.value + 1)
