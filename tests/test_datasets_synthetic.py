"""Seeded generators: shapes, reproducibility, balance, and the properties their docs claim.

Properties are measured on the output (centre of mass, frame sums, recurrences of the
waveforms), not by re-running the generator's own arithmetic.
"""

import numpy as np
import pytest

from minidl import datasets as ds


def _centre_of_mass(frames):
    """(row, col) centre of mass of each image in (..., H, W)."""
    h, w = frames.shape[-2:]
    mass = frames.sum(axis=(-2, -1))
    rows = (frames.sum(axis=-1) * np.arange(h)).sum(axis=-1) / mass
    cols = (frames.sum(axis=-2) * np.arange(w)).sum(axis=-1) / mass
    return np.stack([rows, cols], axis=-1)


# ---------------------------------------------------------------- moving digits


@pytest.mark.parametrize("directions", [2, 4, 8])
@pytest.mark.parametrize("step", [1, 2])
def test_moving_digits_move_in_labelled_direction(directions, step):
    X, y = ds.make_moving_digits(40, frames=5, size=18, directions=directions, step=step, rng=3)
    assert X.shape == (40, 1, 5, 18, 18) and X.dtype == np.float32 and y.dtype == np.int64
    com = _centre_of_mass(X[:, 0].astype(np.float64))  # (n, T, 2)
    expected = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}
    expected.update({4: (1, 1), 5: (-1, -1), 6: (1, -1), 7: (-1, 1)})
    for i in range(len(y)):
        per_frame = np.tile(np.multiply(expected[y[i]], step), (4, 1))
        np.testing.assert_allclose(np.diff(com[i], axis=0), per_frame, atol=1e-9)
    # The glyph never leaves the frame: each frame carries the same mass.
    sums = X.sum(axis=(3, 4), dtype=np.float64)
    np.testing.assert_allclose(sums, np.broadcast_to(sums[..., :1], sums.shape), rtol=1e-6)
    assert np.all(sums > 0)


def test_moving_digits_opposite_senses_share_time_average():
    # One asymmetric glyph and a frame exactly as wide as glyph + travel: a horizontal path is
    # fixed but for its row, so right- and left-moving clips on the same row must be each
    # other's time reversal, with equal time averages (the streak has no sense).
    glyph = np.zeros((1, 4, 3))
    glyph[0] = [[1, 0, 0], [1, 1, 0], [1, 0.5, 0.2], [0, 0, 0.7]]
    X, y = ds.make_moving_digits(
        200, frames=6, size=8, directions=2, glyphs=glyph, rng=5, dtype=np.float64
    )
    rows = np.rint(_centre_of_mass(X[:, 0, 0])[:, 0] * 1e6).astype(np.int64)
    pairs = 0
    for r in np.unique(rows):
        right = np.flatnonzero((rows == r) & (y == 0))
        left = np.flatnonzero((rows == r) & (y == 1))
        if len(right) and len(left):
            pairs += 1
            np.testing.assert_array_equal(X[left[0], 0], X[right[0], 0, ::-1])
            np.testing.assert_allclose(
                X[left[0], 0].mean(axis=0), X[right[0], 0].mean(axis=0), atol=1e-15
            )
            assert not np.array_equal(X[left[0], 0], X[right[0], 0])
    assert pairs == 5  # rows 0..4: 8 - 4 + 1 start rows, all drawn in 200 clips


def test_moving_digits_digits_and_glyph_identity():
    glyphs = np.stack([np.full((3, 3), (j + 1) / 4) for j in range(4)])
    X, _, which = ds.make_moving_digits(
        30, frames=3, size=6, glyphs=glyphs, rng=1, return_digits=True
    )
    np.testing.assert_allclose(X.max(axis=(1, 2, 3, 4)), (which + 1) / 4, rtol=1e-7)
    _, _, digits = ds.make_moving_digits(300, rng=2, return_digits=True)
    assert digits.dtype == np.int64 and set(digits) == set(range(10))


def test_moving_digits_default_glyphs_are_bundled_digits():
    # Frame mass equals the mass of a bundled 8x8 digit of the returned class, scaled by 1/16.
    images, labels = ds.load_digits(as_images=False, scale=True, dtype=np.float64)
    X, _, digits = ds.make_moving_digits(20, rng=4, return_digits=True, dtype=np.float64)
    masses = images.sum(axis=1)
    for i in range(20):
        m = X[i, 0, 0].sum()
        assert np.any(np.isclose(masses[labels == digits[i]], m, rtol=1e-12))


def test_moving_digits_reproducible_and_balanced(rng):
    a = ds.make_moving_digits(10, rng=7)
    b = ds.make_moving_digits(10, rng=np.random.default_rng(7))
    c = ds.make_moving_digits(10, rng=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    _, y = ds.make_moving_digits(10, rng=rng)
    counts = np.bincount(y, minlength=4)
    assert counts.sum() == 10 and counts.max() - counts.min() <= 1
    _, y = ds.make_moving_digits(400, directions=8, size=20, rng=rng)
    np.testing.assert_array_equal(np.bincount(y), [50] * 8)


def test_moving_digits_noise_is_added_with_its_std():
    clean, _ = ds.make_moving_digits(50, rng=9, dtype=np.float64)
    noisy, _ = ds.make_moving_digits(50, noise=0.2, rng=9, dtype=np.float64)
    residual = noisy - clean
    assert abs(residual.std() - 0.2) < 0.005 and abs(residual.mean()) < 0.005


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 0}, ValueError, "n must"),
        ({"n": 2.5}, TypeError, "n must"),
        ({"frames": 1}, ValueError, "frames"),
        ({"size": 14}, ValueError, r"size must be >= 15"),
        ({"step": 0}, ValueError, "step"),
        ({"step": 2}, ValueError, r"size must be >= 22"),
        ({"directions": 3}, ValueError, "directions"),
        ({"directions": True}, ValueError, "directions"),
        ({"noise": -0.1}, ValueError, "noise"),
        ({"glyphs": np.ones((8, 8))}, ValueError, "glyphs"),
        ({"glyphs": np.ones((0, 3, 3))}, ValueError, "glyphs"),
        ({"glyphs": np.full((1, 3, 3), np.nan)}, ValueError, "glyphs"),
        ({"glyphs": np.ones((1, 3, 3), np.uint8)}, TypeError, "glyphs"),
        ({"dtype": np.int64}, TypeError, "dtype"),
        ({"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_moving_digits_bad_arguments(kwargs, exc, match):
    args = {"n": 4, **kwargs}
    with pytest.raises(exc, match=match):
        ds.make_moving_digits(**args)


def test_moving_digits_two_directions_need_no_vertical_room():
    X, _ = ds.make_moving_digits(4, frames=3, size=10, directions=2, rng=0)
    assert X.shape == (4, 1, 3, 10, 10)
    with pytest.raises(ValueError, match="size must be >= 10"):
        ds.make_moving_digits(4, frames=3, size=9, directions=2, rng=0)


# ---------------------------------------------------------------- 1-D signals


def test_signals_shapes_balance_reproducible():
    X, y = ds.make_signals_1d(10, length=64, rng=0)
    assert X.shape == (10, 1, 64) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y, minlength=4)
    assert counts.max() - counts.min() <= 1
    X2, y2 = ds.make_signals_1d(10, length=64, rng=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = ds.make_signals_1d(10, length=64, rng=1)
    assert not np.array_equal(X, X3)
    X64, _ = ds.make_signals_1d(3, dtype=np.float64, rng=0)
    assert X64.dtype == np.float64 and X64.shape == (3, 1, 128)


def test_signals_waveforms_have_their_shapes():
    X, y = ds.make_signals_1d(80, length=128, noise=0.0, rng=11, dtype=np.float64)
    x = X[:, 0]
    for row in x[y == 0]:
        # A sampled sinusoid obeys x[t+1] + x[t-1] = 2 cos(w) x[t] with one constant.
        c = np.dot(row[1:-1], row[2:] + row[:-2]) / np.dot(row[1:-1], row[1:-1])
        np.testing.assert_allclose(row[2:] + row[:-2], c * row[1:-1], atol=1e-12)
        assert 0.5 <= np.abs(row).max() <= 1.5
    for row in x[y == 1]:
        values = np.unique(row)
        assert len(values) == 2 and values[0] == -values[1] and 0.5 <= values[1] <= 1.5
    for row in x[y == 2]:
        d = np.diff(row)
        rising = d[d > 0]
        np.testing.assert_allclose(rising, rising[0], rtol=1e-9)  # one constant slope
        assert 1 <= np.sum(d < 0) <= 9  # one drop per cycle, 2..8 cycles
    for row in x[y == 3]:
        support = np.flatnonzero(row)
        assert 16 <= support[-1] - support[0] + 1 <= 32  # one window of L/8..L/4
        assert np.all(row[: support[0]] == 0) and np.all(row[support[-1] + 1 :] == 0)


def test_signals_noise_is_added_with_its_std():
    clean, _ = ds.make_signals_1d(200, noise=0.0, rng=3, dtype=np.float64)
    noisy, _ = ds.make_signals_1d(200, noise=0.3, rng=3, dtype=np.float64)
    residual = noisy - clean
    assert abs(residual.std() - 0.3) < 0.01


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 0}, ValueError, "n must"),
        ({"n": "4"}, TypeError, "n must"),
        ({"length": 8}, ValueError, "length"),
        ({"noise": float("nan")}, ValueError, "noise"),
        ({"dtype": np.int32}, TypeError, "dtype"),
    ],
)
def test_signals_bad_arguments(kwargs, exc, match):
    args = {"n": 4, **kwargs}
    with pytest.raises(exc, match=match):
        ds.make_signals_1d(**args)
