r"""Calibration: observe activations over several batches, then choose scale and zero point.

- :class:`MinMaxObserver`: the running minimum and maximum (PyTorch's ``MinMaxObserver``), or
  with ``averaging_constant=c`` their exponential moving average
  :math:`m \leftarrow m + c\,(\min x - m)` (PyTorch's ``MovingAverageMinMaxObserver``, which QAT
  uses for activations: one outlier batch moves the range by only ``c`` of its excess).
- :class:`PercentileObserver`: the p-th percentile of :math:`|x|` (symmetric range
  :math:`[-t, t]`) or the (100 - p)-th and p-th percentiles of :math:`x`, over every value seen:
  clipping the rare outliers spends the codes on the bulk of the distribution.

Both map the range to ``(scale, zero_point)`` with :func:`~minidl.compression.quantization.
choose_qparams` (which widens it to contain 0). ``axis`` gives one range per channel.
"""

import numbers

import numpy as np

from minidl._validation import check_float_array
from minidl.compression.quantization import check_bits, choose_qparams


class _Observer:
    """Shared: qparams settings, per-channel reduction, validation of each batch."""

    def __init__(self, bits, symmetric, signed, narrow_range, axis):
        self.bits = check_bits(bits)
        self.symmetric, self.signed, self.narrow_range = (
            bool(symmetric),
            bool(signed),
            bool(narrow_range),
        )
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
            raise TypeError(f"axis must be None or an integer, got {axis!r}")
        self.axis = axis
        self._channels = None

    def _as_rows(self, x):
        """``x`` as a 2-D array (channels, values) per channel, or (1, values) per tensor."""
        x = check_float_array(x, f"{type(self).__name__} input x")
        if np.any(np.isnan(x)):
            raise ValueError(f"{type(self).__name__} input x contains NaN")
        if self.axis is None:
            return x.reshape(1, -1)
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"axis={self.axis} is out of range for x of shape {x.shape}")
        rows = np.moveaxis(x, self.axis, 0).reshape(x.shape[self.axis], -1)
        if self._channels is not None and rows.shape[0] != self._channels:
            raise ValueError(
                f"x has {rows.shape[0]} channels along axis={self.axis}, earlier batches had "
                f"{self._channels}"
            )
        self._channels = rows.shape[0]
        return rows

    def _range(self):
        raise NotImplementedError

    def calculate_qparams(self):
        """``(scale, zero_point)`` for the range seen so far (arrays per channel)."""
        lo, hi = self._range()
        if self.axis is None:
            lo, hi = lo[0], hi[0]
        return choose_qparams(lo, hi, self.bits, self.symmetric, self.signed, self.narrow_range)

    def __call__(self, x):
        """Record ``x`` and return it unchanged (so an observer can sit in a forward pass)."""
        self.observe(x)
        return x


class MinMaxObserver(_Observer):
    r"""Running min/max (or their moving average) of everything observed.

    Parameters
    ----------
    bits, symmetric, signed, narrow_range
        Passed to :func:`~minidl.compression.quantization.choose_qparams`.
    axis : int or None
        Per-channel ranges along this axis (e.g. 1 for ``(N, C, H, W)`` activations).
    averaging_constant : float in (0, 1] or None
        None: :math:`m = \min(m, \min x)`. A number c: :math:`m \leftarrow m + c(\min x - m)`
        after the first batch (which sets m), the same for the maximum (PyTorch: 0.01).
    """

    def __init__(
        self, bits=8, symmetric=False, signed=True, narrow_range=False, axis=None,
        averaging_constant=None,
    ):  # fmt: skip
        super().__init__(bits, symmetric, signed, narrow_range, axis)
        c = averaging_constant
        if c is not None and (
            isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0 < c <= 1
        ):
            raise ValueError(f"averaging_constant must be None or a number in (0, 1], got {c!r}")
        self.averaging_constant = None if c is None else float(c)
        self.min_val = self.max_val = None

    def observe(self, x):
        rows = self._as_rows(x)
        if rows.shape[1] == 0:
            raise ValueError(f"MinMaxObserver input x is empty, shape {np.shape(x)}")
        lo, hi = rows.min(axis=1), rows.max(axis=1)
        if self.min_val is None:
            self.min_val, self.max_val = lo, hi
        elif self.averaging_constant is None:
            self.min_val, self.max_val = np.minimum(self.min_val, lo), np.maximum(self.max_val, hi)
        else:
            c = self.min_val.dtype.type(self.averaging_constant)
            self.min_val = self.min_val + c * (lo - self.min_val)
            self.max_val = self.max_val + c * (hi - self.max_val)
        return self

    def _range(self):
        if self.min_val is None:
            raise RuntimeError("MinMaxObserver.calculate_qparams called before any observe(x)")
        return self.min_val, self.max_val


class PercentileObserver(_Observer):
    r"""Range from percentiles of all values observed (kept as float32 copies until reset).

    ``absolute=True``: :math:`t = P_p(|x|)`, range :math:`[-t, t]`; ``absolute=False``:
    :math:`[P_{100-p}(x), P_p(x)]`. Percentiles are ``numpy.percentile``'s (linear
    interpolation between order statistics). Other parameters as :class:`MinMaxObserver`.
    """

    def __init__(
        self, percentile=99.99, absolute=True, bits=8, symmetric=False, signed=True,
        narrow_range=False, axis=None,
    ):  # fmt: skip
        super().__init__(bits, symmetric, signed, narrow_range, axis)
        p = percentile
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 50 < p <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {p!r}")
        self.percentile, self.absolute = float(p), bool(absolute)
        self._batches = []

    def observe(self, x):
        rows = self._as_rows(x)
        if rows.shape[1] == 0:
            raise ValueError(f"PercentileObserver input x is empty, shape {np.shape(x)}")
        self._batches.append(rows.astype(np.float32, copy=True))
        return self

    def reset(self):
        self._batches, self._channels = [], None
        return self

    def _range(self):
        if not self._batches:
            raise RuntimeError("PercentileObserver.calculate_qparams called before any observe(x)")
        values = np.concatenate(self._batches, axis=1)
        if self.absolute:
            t = np.percentile(np.abs(values), self.percentile, axis=1)
            return -t, t
        lo = np.percentile(values, 100 - self.percentile, axis=1)
        return lo, np.percentile(values, self.percentile, axis=1)
