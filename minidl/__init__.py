"""minidl: deep learning and model compression, formula by formula, in plain NumPy.

The engine is written by hand on purpose: every forward, backward and update is the formula,
with the formula in its docstring. See ``../README.md`` and ``chapters/`` for the tour.
"""

from minidl._rng import get_rng, seed

__version__ = "0.1.0"

__all__ = ["__version__", "get_rng", "seed"]
