"""Pure NumPy forward/backward pairs. Each vectorized op has a ``_naive`` loop twin beside it."""
