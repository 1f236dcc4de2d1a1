"""Calibration observers: min/max, moving-average min/max, percentile (values worked by hand).

PyTorch agreement of the min/max observers is in tests/crosscheck/test_quantization_torch.py.
"""

import numpy as np
import pytest

from minidl.compression.observers import MinMaxObserver, PercentileObserver
from minidl.compression.quantization import choose_qparams, dequantize, quantize, sqnr_db


def test_minmax_over_batches():
    obs = MinMaxObserver(signed=False)
    obs(np.array([1.0, 2.0, -1.0], np.float32))
    y = obs(np.array([[5.0, 0.0]], np.float32))
    assert y.shape == (1, 2)  # returns its input unchanged
    assert obs.min_val[0] == -1 and obs.max_val[0] == 5
    assert obs.calculate_qparams() == choose_qparams(-1.0, 5.0, signed=False)


def test_moving_average_hand_values():
    # c = 0.5: first batch sets [0, 4]; second [-2, 8] -> min 0 + 0.5(-2 - 0) = -1, max 6
    obs = MinMaxObserver(averaging_constant=0.5)
    obs(np.array([0.0, 4.0]))
    obs(np.array([-2.0, 8.0]))
    assert obs.min_val[0] == -1.0 and obs.max_val[0] == 6.0


def test_minmax_per_channel(rng):
    obs = MinMaxObserver(axis=1)
    batches = [rng.normal(size=(4, 3, 2, 2)) for _ in range(3)]
    for b in batches:
        obs(b)
    allx = np.concatenate(batches)
    for c in range(3):
        assert obs.min_val[c] == allx[:, c].min() and obs.max_val[c] == allx[:, c].max()
    s, z = obs.calculate_qparams()
    assert s.shape == (3,) and z.shape == (3,)


def test_percentile_hand_value():
    # 1..10000 over 4 batches; the 99th percentile with linear interpolation sits at rank
    # 0.99 * 9999 = 9899.01 (0-based) between 9900 and 9901: 9900.01
    obs = PercentileObserver(percentile=99.0, signed=False)
    for part in np.split(np.arange(1, 10001, dtype=np.float64), 4):
        obs(part)
    lo, hi = obs._range()
    assert hi[0] == pytest.approx(9900.01, abs=1e-3) and lo[0] == -hi[0]
    obs2 = PercentileObserver(percentile=99.0, absolute=False)
    obs2(np.arange(1, 10001, dtype=np.float64))
    lo, hi = obs2._range()  # 1st percentile at rank 99.99: 100.99
    assert lo[0] == pytest.approx(100.99, abs=1e-3) and hi[0] == pytest.approx(9900.01, abs=1e-3)


def test_percentile_beats_minmax_with_an_outlier(rng):
    """One activation of 1000 among N(0, 1) values: min/max spends the 256 codes on
    [-1000, 1000] (step ~8, the bulk rounds to 0), the 99.9th percentile on about [-3.3, 3.3]."""
    x = rng.normal(size=20_000).astype(np.float32)
    x[123] = 1000.0
    results = {}
    for name, obs in [("minmax", MinMaxObserver()), ("pct", PercentileObserver(99.9))]:
        obs(x)
        s, z = obs.calculate_qparams()
        results[name] = sqnr_db(x[x < 100], dequantize(quantize(x, s, z), s, z)[x < 100])
    assert results["pct"] > results["minmax"] + 20


def test_observer_bad_inputs():
    with pytest.raises(ValueError, match="averaging_constant"):
        MinMaxObserver(averaging_constant=0.0)
    with pytest.raises(ValueError, match="averaging_constant"):
        MinMaxObserver(averaging_constant=1.5)
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(percentile=101)
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(percentile=40)
    with pytest.raises(ValueError, match="bits"):
        MinMaxObserver(bits=0)
    with pytest.raises(TypeError, match="axis"):
        MinMaxObserver(axis=1.0)
    with pytest.raises(RuntimeError, match="before"):
        MinMaxObserver().calculate_qparams()
    with pytest.raises(RuntimeError, match="before"):
        PercentileObserver().calculate_qparams()
    with pytest.raises(ValueError, match="NaN"):
        MinMaxObserver()(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="axis"):
        MinMaxObserver(axis=3)(np.ones((2, 2)))
    obs = MinMaxObserver(axis=1)
    obs(np.ones((2, 3)))
    with pytest.raises(ValueError, match="channels"):
        obs(np.ones((2, 4)))
    with pytest.raises(ValueError, match="empty"):
        PercentileObserver()(np.ones((0, 3)))
    with pytest.raises(TypeError, match="x"):
        MinMaxObserver()(np.ones(3, dtype=np.int32))
