"""minidl: deep learning and model compression, formula by formula, in plain NumPy.

The engine is written by hand on purpose: every forward, backward and update is the formula,
with the formula in its docstring. See ``README.md`` and ``chapters/`` for the tour.

The most used names are importable from the top level; everything else lives in its module
(``minidl.functional``, ``minidl.layers``, ``minidl.linear``, ``minidl.compression`` ...).
"""

from minidl._rng import get_rng, seed
from minidl.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from minidl.model import Sequential
from minidl.optim import SGD, Adam, AdamW, CosineAnnealingLR, StepLR, gradient_descent

__version__ = "0.1.0"


def save(model, path):
    """Write ``model`` (a :class:`Sequential`) to ``path``: architecture and state, atomically.

    The same as ``model.save(path)``; :func:`load` reads it back.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
    model.save(path)


def load(path):
    """The :class:`Sequential` saved in ``path`` by :func:`save` (``Sequential.load(path)``)."""
    return Sequential.load(path)


__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "CosineAnnealingLR",
    "CrossEntropyLoss",
    "MSELoss",
    "Sequential",
    "StepLR",
    "__version__",
    "get_rng",
    "gradient_descent",
    "load",
    "save",
    "seed",
]
