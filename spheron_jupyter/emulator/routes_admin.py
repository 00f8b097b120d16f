"""Routes (stub)."""


def register(app):
    pass
