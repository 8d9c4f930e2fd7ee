# Checks only in __init__; the setters accept anything.
class Temperature:
    def __init__(self, c):
        if c < -273.15:
            raise ValueError("低于绝对零度")
        self._c = c

    @property
    def celsius(self):
        return self._c

    @celsius.setter
    def celsius(self, value):
        self._c = value

    @property
    def fahrenheit(self):
        return self._c * 9 / 5 + 32

    @fahrenheit.setter
    def fahrenheit(self, value):
        self._c = (value - 32) * 5 / 9
