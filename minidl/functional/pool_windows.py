r"""Where the pooling windows are: output sizes, argument checks, strided views of the windows.

Along each spatial dim of length :math:`L`, with kernel :math:`k`, stride :math:`s` and symmetric
padding :math:`p` (PyTorch's semantics, dilation 1, :math:`p \le k/2`), output position
:math:`o` sees the input window :math:`[o s - p,\ o s - p + k)` and

.. math::
    L_{out} = \left\lfloor \frac{L + 2p - k}{s} \right\rfloor + 1

with the ceiling instead under ``ceil_mode``, minus one if that last window would start beyond
:math:`L + p - 1`.

The private helpers address every window at once for :mod:`minidl.functional.pool`: the padded
*canvas* holding ``x`` at offset ``p``; for each kernel offset the strided slice of it that holds
that offset of every window; the ``(N, C, o1, k1, o2, k2, ...)`` reshape when the windows tile
the input; the average-pool divisor; and the crop of a canvas-shaped gradient back to ``x``.
The shape functions and checks are shared with the loop twins in
:mod:`minidl.functional.pool_naive`, the pooling layers and :mod:`minidl.complexity`.
"""

import itertools

import numpy as np

from minidl._validation import as_tuple, check_float_array

# ---------------------------------------------------------------- shapes and argument checks


def pool_output_size(length, kernel_size, stride, padding, ceil_mode=False):
    """Output length along one dim (PyTorch's rule, dilation 1).

    ``floor((L + 2p - k) / s) + 1``; with ``ceil_mode`` the ceiling, minus one if that last window
    would start past the input and the left padding (``(out - 1) s >= L + p``).
    """
    span = length + 2 * padding - kernel_size
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1
    return out


def _check_args(input_shape, kernel_size, stride, padding, ceil_mode, ndim=None, where="pool"):
    """Normalize (kernel, stride, padding) to d-tuples and validate them against the input."""
    shape = tuple(input_shape)
    if ndim is not None and len(shape) != ndim + 2:
        raise ValueError(
            f"{where}: x must be {ndim + 2}-dimensional (N, C, {ndim} spatial dims), "
            f"got shape {shape} ({len(shape)}-D)"
        )
    d = len(shape) - 2
    if d not in (1, 2, 3):
        raise ValueError(
            f"{where}: x must be 3-, 4- or 5-dimensional (N, C, 1 to 3 spatial dims), "
            f"got shape {shape} ({len(shape)}-D)"
        )
    k = as_tuple(kernel_size, d, "kernel_size")
    s = k if stride is None else as_tuple(stride, d, "stride")
    if isinstance(padding, str):
        raise TypeError(
            f"padding must be an int or a tuple of {d} ints for pooling, got {padding!r}"
        )
    p = as_tuple(padding, d, "padding", minimum=0)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    for ki, pi in zip(k, p, strict=True):
        if 2 * pi > ki:
            raise ValueError(f"padding must be at most half the kernel_size {k}, got padding {p}")
    spatial = shape[2:]
    if any(L + 2 * pi < ki for L, ki, pi in zip(spatial, k, p, strict=True)):
        padded = tuple(L + 2 * pi for L, pi in zip(spatial, p, strict=True))
        raise ValueError(
            f"kernel_size {k} is larger than the padded input {padded} (input {spatial}, "
            f"padding {p})"
        )
    out = tuple(
        pool_output_size(L, ki, si, pi, bool(ceil_mode))
        for L, ki, si, pi in zip(spatial, k, s, p, strict=True)
    )
    return k, s, p, out


def pool_output_shape(input_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Full output shape ``(N, C, *out)`` of max/avg pooling for ``input_shape``."""
    k, s, p, out = _check_args(input_shape, kernel_size, stride, padding, ceil_mode)
    return tuple(input_shape[:2]) + out


def _check_dy(dy, cache):
    dy = check_float_array(dy, "dy")
    want = cache["x_shape"][:2] + cache["out"]
    if dy.shape != want:
        raise ValueError(f"dy must have the forward output's shape {want}, got {dy.shape}")
    return dy


# ------------------------------------------------------------- strided views of the windows


def _window_slices(kernel, stride, out):
    """For each kernel offset (raster order), the slice selecting it from every window."""
    for off in itertools.product(*(range(k) for k in kernel)):
        yield (Ellipsis,) + tuple(
            slice(a, a + s * (o - 1) + 1, s) for a, s, o in zip(off, stride, out, strict=True)
        )


def _canvas_shape(x_shape, kernel, stride, padding, out):
    """Shape of the canvas: x's own when every window lies inside x without padding, else long
    enough for the padding on both sides and for every window."""
    spatial = x_shape[2:]
    need = tuple((o - 1) * s + k for o, s, k in zip(out, stride, kernel, strict=True))
    if not any(padding) and all(n <= L for n, L in zip(need, spatial, strict=True)):
        return tuple(x_shape)
    size = tuple(max(n, p + L) for n, p, L in zip(need, padding, spatial, strict=True))
    return tuple(x_shape[:2]) + size


def _canvas(x, kernel, stride, padding, out, fill):
    """x placed at offset ``padding`` in an array long enough for every window, rest = fill."""
    shape = _canvas_shape(x.shape, kernel, stride, padding, out)
    if shape == x.shape:
        return x  # windows lie inside x: slice it directly, no copy
    xp = np.full(shape, fill, dtype=x.dtype)
    xp[(Ellipsis,) + tuple(slice(p, p + L) for p, L in zip(padding, x.shape[2:], strict=True))] = x
    return xp


def _is_tiling(x_shape, kernel, stride, padding, out):
    """Stride == kernel, no padding, every window inside x: the reshape fast path applies."""
    return (
        stride == kernel
        and not any(padding)
        and all(o * k <= L for o, k, L in zip(out, kernel, x_shape[2:], strict=True))
    )


def _tiles(a, kernel, out):
    """View (N, C, o1*k1, ...) -> (N, C, o1, k1, o2, k2, ...) of the region covered by windows."""
    a = a[(Ellipsis,) + tuple(slice(0, o * k) for o, k in zip(out, kernel, strict=True))]
    pairs = tuple(v for o, k in zip(out, kernel, strict=True) for v in (o, k))
    return a.reshape(a.shape[:2] + pairs)


def _tile_offsets(kernel):
    """Index tuples picking one kernel offset from the (N, C, o1, k1, o2, k2, ...) tile view."""
    for off in itertools.product(*(range(k) for k in kernel)):
        idx = (slice(None), slice(None))
        for a in off:
            idx += (slice(None), a)
        yield idx


def _tile_expand(d):
    """Index that gives an (N, C, o1, o2, ...) array a size-1 axis after each o_i."""
    return (slice(None), slice(None)) + (slice(None), None) * d


def _divisor(spatial, kernel, stride, padding, out, dtype):
    """Average-pool divisor per output position: window length clipped to [-p, L + p), per dim.

    Separable, so it is the outer product of the per-dim counts ``min(o s - p + k, L + p) -
    (o s - p)``: ``k`` everywhere except a ceil-mode window hanging past the right padding.
    """
    div = np.ones(out, dtype=dtype)
    for axis, (L, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, out, strict=True)):
        start = np.arange(o) * s - p
        count = np.minimum(start + k, L + p) - start
        shape = [1] * len(out)
        shape[axis] = o
        div = div * count.reshape(shape).astype(dtype)
    return div


def _crop(dcanvas, padding, spatial):
    """The part of a canvas-shaped gradient that lies on x (drops padding and overhang)."""
    if dcanvas.shape[2:] == tuple(spatial):
        return dcanvas
    idx = (Ellipsis,) + tuple(slice(p, p + L) for p, L in zip(padding, spatial, strict=True))
    return np.ascontiguousarray(dcanvas[idx])
