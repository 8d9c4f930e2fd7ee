class Factory:
    def __init__(self):
        self._classes = {}

    def register(self, name):
        def decorator(cls):
            self._classes[name] = cls
        return decorator

    def create(self, name, *args, **kwargs):
        cls = self._classes.get(name)
        return cls(*args, **kwargs) if cls else None

    def names(self):
        return list(self._classes)
