def make_record_class(name, fields):
    fields = tuple(fields)

    def __init__(self, *values):
        for field, value in zip(fields, values):
            setattr(self, field, value)

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"{type(self).__name__}({inner})"

    return type(name, (), {"fields": fields, "__init__": __init__, "__repr__": __repr__})
