class Factory:
    _classes = {}

    def register(self, name):
        def decorator(cls):
            self._classes[name] = cls
            return cls
        return decorator

    def create(self, name, *args, **kwargs):
        return self._classes[name](*args, **kwargs)

    def names(self):
        return sorted(self._classes)
