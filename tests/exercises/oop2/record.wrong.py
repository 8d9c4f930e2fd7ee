def make_record_class(name, fields):
    class Record:
        def __init__(self, *values):
            for field, value in zip(fields, values):
                setattr(self, field, value)

        def __repr__(self):
            inner = ", ".join(f"{f}={getattr(self, f)}" for f in fields)
            return f"{name}({inner})"
    Record.fields = fields
    return Record
