"""Explicit randomness: every random draw in minidl comes from a ``numpy.random.Generator``.

Functions take ``rng=None``; ``None`` means the package generator that ``minidl.seed(s)`` resets.
The global ``numpy.random`` state is never touched, so user code and minidl cannot disturb
each other's streams.
"""

import numpy as np

_default = np.random.default_rng(0)


def seed(value):
    """Reset the package generator to ``numpy.random.default_rng(value)`` and return it."""
    global _default
    _default = np.random.default_rng(value)
    return _default


def get_rng(rng=None):
    """Return ``rng`` if a Generator, a new Generator for an int seed, else the default."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )
