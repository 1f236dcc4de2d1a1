r"""Max and average pooling over 1-D, 2-D and 3-D inputs from one N-d core.

Layout is channels first: ``x`` is ``(N, C, *spatial)`` with 1, 2 or 3 spatial dims. Along each
spatial dim of length :math:`L`, with kernel :math:`k`, stride :math:`s` and symmetric padding
:math:`p` (PyTorch's semantics, which require :math:`p \le k/2`), output position :math:`o` sees
the window :math:`[o s - p,\ o s - p + k)` of the input and

.. math::
    L_{out} = \left\lfloor \frac{L + 2p - k}{s} \right\rfloor + 1
    \quad(\lceil\cdot\rceil \text{ with ceil\_mode, minus 1 if the last window would start
    beyond } L + p - 1)

    \text{max:}\ y[n, c, o] = \max_{t \in \text{window}(o)} x[n, c, t]
    \qquad
    \text{avg:}\ y[n, c, o] = \frac{1}{|\text{window}(o) \cap [-p, L + p)|}
    \sum_{t \in \text{window}(o) \cap [0, L)} x[n, c, t]

Max pooling pads with :math:`-\infty` (padding never wins); average pooling counts the zero
padding in the divisor (PyTorch's default ``count_include_pad=True``) but not the part of a
ceil-mode window that hangs past the right padding, exactly as PyTorch does.

Backward: max sends :math:`\partial L/\partial y` to the *first* maximum of each window in
raster order (PyTorch's rule, so ties give identical gradients); average spreads it evenly,
:math:`\partial L/\partial x_t = \sum_{o \ni t} \partial L/\partial y_o / \text{divisor}_o`.

How it is computed: for each of the :math:`k_1 \cdots k_d` kernel offsets, the strided slice
``xp[..., a::s, b::s]`` of the padded input is a view holding that offset of every window (the
same array ``as_strided``/``sliding_window_view`` would give as ``windows[..., a, b]``), so the
forward is :math:`k^d` whole-array ``maximum``/``add`` calls and the backward is :math:`k^d` slice
additions into a zero array -- no ``np.add.at``, no copy of all windows. When stride equals the
kernel and there is no padding the windows tile the input: ``x.reshape(N, C, H/k, k, W/k, k)``,
and max pooling keeps a boolean first-max mask of the input's shape so its backward is a single
broadcast multiply. The ``*_naive`` twins below are the same formulas as plain loops.

Every forward returns ``y``, or ``(y, cache)`` with ``return_cache=True`` (the convention of
:mod:`minidl.functional.conv`); the matching ``*_backward(dy, cache)`` returns ``dx``.
"""

import itertools
import math

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


def _window_slices(kernel, stride, out):
    """For each kernel offset (raster order), the slice selecting it from every window."""
    for off in itertools.product(*(range(k) for k in kernel)):
        yield (Ellipsis,) + tuple(
            slice(a, a + s * (o - 1) + 1, s) for a, s, o in zip(off, stride, out, strict=True)
        )


def _canvas(x, kernel, stride, padding, out, fill):
    """x placed at offset ``padding`` in an array long enough for every window, rest = fill."""
    spatial = x.shape[2:]
    need = tuple((o - 1) * s + k for o, s, k in zip(out, stride, kernel, strict=True))
    if not any(padding) and all(n <= L for n, L in zip(need, spatial, strict=True)):
        return x  # windows lie inside x: slice it directly, no copy
    size = tuple(max(n, p + L) for n, p, L in zip(need, padding, spatial, strict=True))
    xp = np.full(x.shape[:2] + size, fill, dtype=x.dtype)
    xp[(Ellipsis,) + tuple(slice(p, p + L) for p, L in zip(padding, spatial, strict=True))] = x
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


def _check_dy(dy, cache):
    dy = check_float_array(dy, "dy")
    want = cache["x_shape"][:2] + cache["out"]
    if dy.shape != want:
        raise ValueError(f"dy must have the forward output's shape {want}, got {dy.shape}")
    return dy


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


# ---------------------------------------------------------------------------- max pooling


def max_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    r"""Max pooling over the 1, 2 or 3 spatial dims of ``x`` (N, C, *spatial).

    .. math:: y[n, c, o] = \max_{t \in [o s - p,\ o s - p + k)} x_{-\infty\text{-padded}}[n, c, t]

    Returns ``y`` (N, C, *out), or ``(y, cache)`` with ``return_cache=True`` for
    :func:`max_pool_backward`. The cache holds no copy of ``x``: on the tiling path (stride ==
    kernel, no padding) a boolean mask of ``x``'s shape marking each window's first maximum, else
    the raster index of that first maximum per output (``uint8`` when the kernel has <= 256
    taps); neither is computed without ``return_cache``. ``stride`` defaults to
    ``kernel_size``; ``padding`` must be at most half the kernel.
    """
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where="max_pool")
    cache = {"x_shape": x.shape, "dtype": x.dtype, "kernel": k, "stride": s, "padding": p}
    cache["out"] = out
    if _is_tiling(x.shape, k, s, p, out):
        xt = _tiles(x, k, out)
        views = [xt[idx] for idx in _tile_offsets(k)]
        y = views[0].copy()
        for v in views[1:]:
            np.maximum(y, v, out=y)
        if not return_cache:
            return y
        mask = np.zeros(xt.shape, dtype=bool)
        taken = np.zeros(y.shape, dtype=bool)
        for idx, v in zip(_tile_offsets(k), views, strict=True):
            m = mask[idx]
            np.equal(v, y, out=m)
            np.greater(m, taken, out=m)  # m and not taken: only the first maximum keeps it
            taken |= m
        cache["mask"] = mask
        return y, cache
    xp = _canvas(x, k, s, p, out, -np.inf)
    slices = list(_window_slices(k, s, out))
    y = xp[slices[0]].copy()
    for sl in slices[1:]:
        np.maximum(y, xp[sl], out=y)
    if not return_cache:
        return y
    # First maximum: walk the offsets backwards writing i wherever the window's value equals
    # the max, so the smallest (raster-first) i is written last. arg = where(eq, i, arg) is done
    # as arg += eq * (i - arg), in place and modulo 2^bits (exact for unsigned ints), which
    # measured ~2x faster than np.where / boolean-mask assignment here.
    arg = np.zeros(y.shape, dtype=np.min_scalar_type(len(slices) - 1))
    eq, step = np.empty(y.shape, dtype=bool), np.empty_like(arg)
    for i in range(len(slices) - 1, -1, -1):
        np.equal(xp[slices[i]], y, out=eq)
        np.subtract(arg.dtype.type(i), arg, out=step)
        step *= eq
        arg += step
    cache["arg"], cache["canvas_shape"] = arg, xp.shape
    return y, cache


def max_pool_backward(dy, cache):
    r"""Gradient of :func:`max_pool`: each ``dy[n, c, o]`` goes to its window's first maximum.

    .. math:: \frac{\partial L}{\partial x_t} = \sum_{o:\ t = \text{argmax}_1(o)}
              \frac{\partial L}{\partial y_o}
    """
    dy = _check_dy(dy, cache)
    k, s, p, out, shape = (cache[n] for n in ("kernel", "stride", "padding", "out", "x_shape"))
    if "mask" in cache:
        dx = np.zeros(shape, dtype=cache["dtype"])
        np.multiply(cache["mask"], dy[_tile_expand(len(k))], out=_tiles(dx, k, out))
        return dx
    dcanvas = np.zeros(cache["canvas_shape"], dtype=cache["dtype"])
    hit, share = np.empty(dy.shape, dtype=bool), np.empty(dy.shape, dtype=cache["dtype"])
    for i, sl in enumerate(_window_slices(k, s, out)):
        np.equal(cache["arg"], i, out=hit)
        np.multiply(dy, hit, out=share)  # dy where offset i was the first max, else 0
        dcanvas[sl] += share
    return _crop(dcanvas, p, shape[2:])


# ------------------------------------------------------------------------ average pooling


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    r"""Average pooling (``count_include_pad=True``, PyTorch's default) of ``x`` (N, C, *spatial).

    .. math:: y[n, c, o] = \frac{1}{D_o} \sum_{t \in \text{window}(o)} x_{0\text{-padded}}[n, c, t],
              \quad D_o = \prod_d \big(\min(o_d s_d - p_d + k_d,\ L_d + p_d) - (o_d s_d - p_d)\big)

    Returns ``y``, or ``(y, cache)`` with ``return_cache=True``; the cache holds only shapes
    and the divisor.
    """
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where="avg_pool")
    cache = {"x_shape": x.shape, "dtype": x.dtype, "kernel": k, "stride": s, "padding": p}
    cache["out"] = out
    if _is_tiling(x.shape, k, s, p, out):
        xt = _tiles(x, k, out)
        views = [xt[idx] for idx in _tile_offsets(k)]
        cache["divisor"] = None
        divisor = math.prod(k)
    else:
        xp = _canvas(x, k, s, p, out, 0.0)
        views = [xp[sl] for sl in _window_slices(k, s, out)]
        cache["canvas_shape"] = xp.shape
        divisor = cache["divisor"] = _divisor(x.shape[2:], k, s, p, out, x.dtype)
    y = views[0].copy()
    for v in views[1:]:
        y += v
    y /= divisor
    return (y, cache) if return_cache else y


def avg_pool_backward(dy, cache):
    r"""Gradient of :func:`avg_pool`: every input in window ``o`` gets ``dy[o] / divisor[o]``."""
    dy = _check_dy(dy, cache)
    k, s, p, out, shape = (cache[n] for n in ("kernel", "stride", "padding", "out", "x_shape"))
    if cache["divisor"] is None:
        dx = np.zeros(shape, dtype=cache["dtype"])
        g = (dy / math.prod(k)).astype(cache["dtype"], copy=False)
        _tiles(dx, k, out)[...] = g[_tile_expand(len(k))]
        return dx
    g = (dy / cache["divisor"]).astype(cache["dtype"], copy=False)
    dcanvas = np.zeros(cache["canvas_shape"], dtype=cache["dtype"])
    for sl in _window_slices(k, s, out):
        dcanvas[sl] += g
    return _crop(dcanvas, p, shape[2:])


def _fixed_rank(fn, d):
    def pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
        x = check_float_array(x, "x")
        _check_args(x.shape, kernel_size, stride, padding, ceil_mode, ndim=d, where=name)
        return fn(x, kernel_size, stride, padding, ceil_mode, return_cache)

    name = f"{fn.__name__}{d}d"
    pool.__name__ = pool.__qualname__ = name
    pool.__doc__ = (
        f"{fn.__name__} for x of shape (N, C, {d} spatial dims); see :func:`{fn.__name__}`."
    )
    return pool


max_pool1d, max_pool2d, max_pool3d = (_fixed_rank(max_pool, d) for d in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_fixed_rank(avg_pool, d) for d in (1, 2, 3))


# ----------------------------------------------------------------- global average pooling


def global_avg_pool(x, return_cache=False):
    r"""Mean over all spatial dims: ``(N, C, *spatial) -> (N, C)``.

    .. math:: y[n, c] = \frac{1}{M} \sum_t x[n, c, t], \qquad M = \prod_d L_d

    Returns ``y``, or ``(y, cache)`` with ``return_cache=True``; backward:
    :math:`\partial L/\partial x[n, c, t] = dy[n, c] / M`.
    """
    x = check_float_array(x, "x", ndim=(3, 4, 5))
    y = x.mean(axis=tuple(range(2, x.ndim)))
    cache = {"x_shape": x.shape, "dtype": x.dtype, "out": ()}
    return (y, cache) if return_cache else y


def global_avg_pool_backward(dy, cache):
    """Gradient of :func:`global_avg_pool`: ``dy[n, c] / M`` broadcast over the positions."""
    dy = _check_dy(dy, cache)
    shape = cache["x_shape"]
    g = (dy / math.prod(shape[2:])).astype(cache["dtype"], copy=False)
    return np.ascontiguousarray(np.broadcast_to(g[(Ellipsis,) + (None,) * (len(shape) - 2)], shape))


# ------------------------------------------------------------ naive twins: the formulas as loops


def _window_positions(o, kernel, stride, padding, spatial):
    """Input positions of window ``o`` that lie inside x, in raster order."""
    ranges = (
        range(max(oi * s - p, 0), min(oi * s - p + k, L))
        for oi, k, s, p, L in zip(o, kernel, stride, padding, spatial, strict=True)
    )
    return itertools.product(*ranges)


def _window_divisor(o, kernel, stride, padding, spatial):
    """Window size counting padding but not the ceil-mode overhang past L + p (PyTorch)."""
    size = 1
    for oi, k, s, p, L in zip(o, kernel, stride, padding, spatial, strict=True):
        size *= min(oi * s - p + k, L + p) - (oi * s - p)
    return size


def _naive_setup(x, kernel_size, stride, padding, ceil_mode, where):
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where=where)
    cache = {"x": x, "x_shape": x.shape, "kernel": k, "stride": s, "padding": p, "out": out}
    return x, cache


def _naive_loops(cache):
    """(n, c, o) for every output element."""
    n_, c_ = cache["x_shape"][:2]
    return itertools.product(range(n_), range(c_), itertools.product(*map(range, cache["out"])))


def _first_max(x, n, c, o, cache):
    """Position of the first (raster-order) maximum of window ``o`` and its value."""
    best, where = -math.inf, None
    for t in _window_positions(o, cache["kernel"], cache["stride"], cache["padding"], x.shape[2:]):
        if x[(n, c) + t] > best:
            best, where = x[(n, c) + t], t
    return where, best


def max_pool_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    """Loop twin of :func:`max_pool`: the max over each window's positions inside x."""
    x, cache = _naive_setup(x, kernel_size, stride, padding, ceil_mode, "max_pool_naive")
    y = np.empty(x.shape[:2] + cache["out"], dtype=x.dtype)
    for n, c, o in _naive_loops(cache):
        y[(n, c) + o] = _first_max(x, n, c, o, cache)[1]
    return (y, cache) if return_cache else y


def max_pool_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool_backward`: dx[first max of window o] += dy[o]."""
    dy = _check_dy(dy, cache)
    x = cache["x"]
    dx = np.zeros_like(x)
    for n, c, o in _naive_loops(cache):
        t = _first_max(x, n, c, o, cache)[0]
        dx[(n, c) + t] += dy[(n, c) + o]
    return dx


def avg_pool_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    """Loop twin of :func:`avg_pool`: the sum over each window inside x over its divisor."""
    x, cache = _naive_setup(x, kernel_size, stride, padding, ceil_mode, "avg_pool_naive")
    y = np.empty(x.shape[:2] + cache["out"], dtype=x.dtype)
    geometry = (cache["kernel"], cache["stride"], cache["padding"], x.shape[2:])
    for n, c, o in _naive_loops(cache):
        total = 0.0
        for t in _window_positions(o, *geometry):
            total += x[(n, c) + t]
        y[(n, c) + o] = total / _window_divisor(o, *geometry)
    return (y, cache) if return_cache else y


def avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool_backward`: dx[t] += dy[o] / divisor(o) for t in window o."""
    dy = _check_dy(dy, cache)
    x = cache["x"]
    dx = np.zeros_like(x)
    geometry = (cache["kernel"], cache["stride"], cache["padding"], x.shape[2:])
    for n, c, o in _naive_loops(cache):
        share = dy[(n, c) + o] / _window_divisor(o, *geometry)
        for t in _window_positions(o, *geometry):
            dx[(n, c) + t] += share
    return dx


def global_avg_pool_naive(x, return_cache=False):
    """Loop twin of :func:`global_avg_pool`."""
    x = check_float_array(x, "x", ndim=(3, 4, 5))
    y = np.empty(x.shape[:2], dtype=x.dtype)
    positions = list(itertools.product(*map(range, x.shape[2:])))
    for n, c in itertools.product(*map(range, x.shape[:2])):
        total = 0.0
        for t in positions:
            total += x[(n, c) + t]
        y[n, c] = total / len(positions)
    cache = {"x_shape": x.shape, "dtype": x.dtype, "out": ()}
    return (y, cache) if return_cache else y


def global_avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`global_avg_pool_backward`."""
    dy = _check_dy(dy, cache)
    shape = cache["x_shape"]
    dx = np.zeros(shape, dtype=cache["dtype"])
    positions = list(itertools.product(*map(range, shape[2:])))
    for n, c in itertools.product(*map(range, shape[:2])):
        for t in positions:
            dx[(n, c) + t] = dy[n, c] / len(positions)
    return dx
