"""The job functions of rq_check.py (RQ imports them by module path)."""


def add(a, b):
    return a + b
