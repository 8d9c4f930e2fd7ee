import math

class Vector:
    def __init__(self, *components):
        self.components = components
        self.norm = math.sqrt(sum(c * c for c in components))

    def __len__(self):
        return len(self.components)

    def __getitem__(self, index):
        return self.components[index]

    def __add__(self, other):
        return Vector(*(a + b for a, b in zip(self.components, other.components)))

    def __eq__(self, other):
        return self.components == other.components

    def __repr__(self):
        return f"Vector{self.components}"
