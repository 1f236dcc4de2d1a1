"""Seeded toy generators: data made on the fly, reproducible from an explicit generator.

``make_moving_digits`` gives short clips for spatiotemporal convolution (the direction of motion
is the label, and opposite senses have identical time averages, so a 2-D net on the averaged
frame cannot tell them apart); ``make_signals_1d`` gives waveforms for Conv1D.
Both are re-exported by ``minidl.datasets``.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_nonnegative, check_positive_int
from minidl.datasets.tabular import load_digits

# (d_row, d_col) per label. Opposite senses sit in adjacent pairs (0/1, 2/3, ...), so the first
# ``directions`` labels always hold whole pairs.
MOTION_DIRECTIONS = (
    ("right", (0, 1)),
    ("left", (0, -1)),
    ("down", (1, 0)),
    ("up", (-1, 0)),
    ("down-right", (1, 1)),
    ("up-left", (-1, -1)),
    ("down-left", (1, -1)),
    ("up-right", (-1, 1)),
)


def _balanced_labels(n, n_classes, rng):
    """``n`` labels with every class ``n // n_classes`` or one more times, in random order."""
    return rng.permutation(np.arange(n) % n_classes).astype(np.int64)


def make_moving_digits(
    n,
    frames=8,
    size=16,
    directions=4,
    step=1,
    glyphs=None,
    noise=0.0,
    rng=None,
    dtype=np.float32,
    return_digits=False,
):
    r"""Clips of a digit glyph sliding across a blank frame; the label is the direction.

    Label ``d`` moves the glyph by ``step`` pixels per frame along ``MOTION_DIRECTIONS[d]``
    (0 right, 1 left, 2 down, 3 up, then the diagonals for ``directions=8``). For a clip with
    path box corner :math:`(r_0, c_0)` and direction :math:`(\delta_r, \delta_c)` the glyph's
    top-left corner in frame :math:`t = 0..T-1` is

    .. math:: r_t = r_0 + s\,\tau_r(t), \quad c_t = c_0 + s\,\tau_c(t), \qquad
              \tau(t) = t \text{ if } \delta = 1,\; T - 1 - t \text{ if } \delta = -1,\;
              0 \text{ if } \delta = 0.

    So opposite directions visit the same positions in reverse order: the clip of "left" is
    the clip of "right" played backwards, and both have the same time-averaged frame, a streak
    whose orientation shows the axis of motion but not its sense. A 2-D network on that average
    can tell horizontal from vertical and no more (about 50% for four directions); a kernel
    that spans time can tell the sense. The box corner is uniform over the positions where the
    whole path fits, drawn independently of the direction, so the streaks of opposite senses
    have the same distribution too.

    Parameters
    ----------
    n : int, number of clips
    frames : int >= 2, clip length T
    size : int, frame height = width; must hold the glyph plus its travel ``(frames-1)*step``
        along every axis of motion
    directions : 2, 4 or 8, the first ``directions`` entries of ``MOTION_DIRECTIONS``
    step : int >= 1, pixels per frame
    glyphs : ndarray (M, h, w), optional
        Images to move, values in [0, 1]. Default: the 1,797 bundled 8x8 digits / 16.
    noise : float >= 0, standard deviation of Gaussian noise added to every pixel
    rng : numpy Generator or int seed (see ``minidl.get_rng``)
    return_digits : bool, also return the index of the glyph (its digit for the default)

    Returns
    -------
    X : ndarray of ``dtype``, shape (n, 1, frames, size, size)
    y : ndarray, int64, shape (n,), each direction ``n // directions`` or one more times
    digits : ndarray, int64, shape (n,), only if ``return_digits``
    """
    n = check_positive_int(n, "n")
    frames = check_positive_int(frames, "frames", minimum=2)
    size = check_positive_int(size, "size")
    step = check_positive_int(step, "step")
    if directions not in (2, 4, 8) or isinstance(directions, bool):
        raise ValueError(f"directions must be 2, 4 or 8, got {directions!r}")
    noise = check_nonnegative(noise, "noise")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = get_rng(rng)
    if glyphs is None:
        images, digit_of = load_digits(as_images=False, scale=True, dtype=dtype)
        glyphs = images.reshape(-1, 8, 8)
    else:
        glyphs = check_float_array(glyphs, "glyphs", ndim=3, finite=True)
        digit_of = np.arange(len(glyphs), dtype=np.int64)
        if len(glyphs) == 0:
            raise ValueError("glyphs must hold at least one image, got shape (0, ...)")
    gh, gw = glyphs.shape[1:]
    travel = (frames - 1) * step
    # Width holds glyph + travel; height too once vertical motion is among the directions.
    need = max(gw + travel, gh + (travel if directions > 2 else 0))
    if size < need:
        raise ValueError(
            f"size must be >= {need} (glyph {gh}x{gw} plus travel (frames - 1) * step = "
            f"{travel}) so the path fits the frame, got {size}"
        )

    y = _balanced_labels(n, directions, rng)
    which = rng.integers(len(glyphs), size=n)
    X = np.zeros((n, 1, frames, size, size), dtype=dtype)
    t = np.arange(frames)
    tau = {1: t, -1: frames - 1 - t, 0: np.zeros_like(t)}  # tau(t) of the docstring
    for i in range(n):
        dr, dc = MOTION_DIRECTIONS[y[i]][1]
        # The path box is glyph + travel along each moving axis; its corner is uniform.
        r0 = rng.integers(size - gh - travel * abs(dr) + 1)
        c0 = rng.integers(size - gw - travel * abs(dc) + 1)
        rows, cols = r0 + step * tau[dr], c0 + step * tau[dc]
        for k in range(frames):
            X[i, 0, k, rows[k] : rows[k] + gh, cols[k] : cols[k] + gw] = glyphs[which[i]]
    if noise > 0:
        X += rng.normal(0.0, noise, size=X.shape).astype(dtype)
    if return_digits:
        return X, y, digit_of[which].astype(np.int64)
    return X, y


SIGNAL_CLASSES = ("sine", "square", "sawtooth", "noise_burst")


def make_signals_1d(n, length=128, noise=0.1, rng=None, dtype=np.float32):
    r"""Four classes of 1-D signals for ``Conv1D``: sine, square, sawtooth, noise burst.

    Each signal has a random amplitude :math:`A \sim U(0.5, 1.5)`, frequency
    :math:`f \sim U(2, 8)` cycles per signal and phase :math:`\varphi \sim U(0, 1)`; with
    :math:`u_t = f t / L + \varphi` and :math:`\{u\}` its fractional part,

    .. math::
        \text{sine}: A \sin 2\pi u_t, \quad
        \text{square}: A\,(1 \text{ if } \{u_t\} < 1/2 \text{ else } -1), \quad
        \text{sawtooth}: A\,(2\{u_t\} - 1),

    and the noise burst is :math:`A\, z_t` with :math:`z_t \sim N(0, 1)` inside one window of
    random start and width :math:`U(L/8, L/4)`, zero elsewhere. Gaussian noise of standard
    deviation ``noise`` is then added to every sample. Labels index ``SIGNAL_CLASSES``.

    Returns
    -------
    X : ndarray of ``dtype``, shape (n, 1, length)
    y : ndarray, int64, shape (n,), each class ``n // 4`` or one more times
    """
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length", minimum=16)
    noise = check_nonnegative(noise, "noise")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = get_rng(rng)
    y = _balanced_labels(n, len(SIGNAL_CLASSES), rng)
    amp = rng.uniform(0.5, 1.5, size=(n, 1))
    freq = rng.uniform(2.0, 8.0, size=(n, 1))
    phase = rng.uniform(0.0, 1.0, size=(n, 1))
    u = freq * np.arange(length) / length + phase
    frac = u - np.floor(u)
    X = np.empty((n, length))
    X[y == 0] = np.sin(2 * np.pi * u[y == 0])
    X[y == 1] = np.where(frac[y == 1] < 0.5, 1.0, -1.0)
    X[y == 2] = 2 * frac[y == 2] - 1
    for i in np.flatnonzero(y == 3):
        width = rng.integers(length // 8, length // 4 + 1)
        start = rng.integers(length - width + 1)
        X[i] = 0.0
        X[i, start : start + width] = rng.normal(size=width)
    X *= amp
    if noise > 0:
        X += rng.normal(0.0, noise, size=X.shape)
    return X[:, None, :].astype(dtype), y
