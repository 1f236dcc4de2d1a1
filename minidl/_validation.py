"""Input checks shared by the whole package.

Every error names the argument, says what was expected and what came, so a wrong call fails
loudly instead of returning a silently wrong number.
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_float_array(x, name, ndim=None, finite=False):
    """Return ``x`` as an ndarray of float32/float64; reject other dtypes and wrong ndim.

    ``ndim`` may be an int or a tuple of accepted ranks. Integer and float16 input raise
    ``TypeError`` (networks compute in float32 or float64 only); ``finite=True`` also rejects
    NaN and inf.
    """
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple, numbers.Number)):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype}")
    if ndim is not None:
        accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in accepted:
            want = " or ".join(str(a) for a in accepted)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {x.shape} ({x.ndim}-D)")
    if finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def check_positive_int(value, name, minimum=1):
    """Return ``value`` as int if it is an integer >= ``minimum``; else raise with the name."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def as_tuple(value, n, name, minimum=1):
    """Expand an int to an ``n``-tuple, or check an ``n``-sequence; each entry >= ``minimum``."""
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(value) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(check_positive_int(v, name, minimum) for v in value)


def check_nonnegative(value, name):
    """Return ``value`` as float if it is a finite number >= 0; else raise with the name."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number >= 0, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def check_fraction(value, name, low_open=False, high_open=False):
    """Return ``value`` as float if it lies in [0, 1] (ends optionally open); else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    lo_ok = value > 0 if low_open else value >= 0
    hi_ok = value < 1 if high_open else value <= 1
    if not (np.isfinite(value) and lo_ok and hi_ok):
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return float(value)
