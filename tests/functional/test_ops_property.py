"""Property-based: every op of ``minidl.functional.OPS`` on random shapes and arguments.

For each op, hypothesis draws a case (batch size, channels, spatial sizes, kernel, stride,
padding incl. ``'same'``/``'valid'``, dilation, groups, ``ceil_mode``, a bias or none, the
softmax axis, the leaky slope, dropout's p and mode, batch norm's mode, momentum, eps and
which of its arrays are given), float64 values and a random upstream gradient, and checks:

- the tiers agree: the loop twin (and the plain vectorized tier where the public code runs a
  faster one) gives the public forward's ``y``, the arrays it updates (batch norm's running
  statistics) and the backward's gradients, to 1e-10 relative (plus 1e-12 absolute);
- the gradients are right: float64 central differences of ``sum(y * dy)`` (``minidl.gradcheck``)
  agree with the backward to 1e-6 relative. Values are distinct and at least 0.25/n from 0,
  n >= 10 values apart, so no step of 1e-6 crosses a kink (ReLU at 0) or a tie of maxima.

Budget: ``EXAMPLES`` (12) examples per op of ``OPS`` with ``derandomize=True``, so CI
runs the same ones every time (about 15 s on a quiet machine, 30 s on a busy one).
``MINIDL_OP_EXAMPLES=500 pytest tests/functional/test_ops_property.py`` searches further with
fresh random examples. ``test_ops.py`` holds the fixed cases, PyTorch's answers and the
bad-input checks; this file only widens the shapes and arguments.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_strategies_courses import SKIPPED, courses_strategy

from minidl.functional import OPS
from minidl.gradcheck import check_function

EXAMPLES = int(os.environ.get("MINIDL_OP_EXAMPLES", "12"))
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="MINIDL_OP_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------ cases, one family each
@st.composite
def conv_case(draw, nd):
    """``(arrays, kwargs, n_grads)`` of an ``nd``-D convolution whose output is not empty."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, 2)))
    pad = padding if isinstance(padding, int) else 0
    size_cap = {1: 9, 2: 6, 3: 4}[nd]
    spatial = []
    for k, d in zip(kernel, dilation, strict=True):
        smallest = 1 if padding == "same" else max(1, d * (k - 1) + 1 - 2 * pad)
        spatial.append(draw(st.integers(smallest, max(smallest, size_cap))))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    arrays = ((n, c_in, *spatial), (c_out, c_in // groups, *kernel), (c_out,) if bias else None)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return arrays, kwargs, 3


@st.composite
def pool_case(draw, nd):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(
        draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 4))
        for k, p in zip(kernel, padding, strict=True)
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    return (shape,), kwargs, 1


def any_shape(min_rank=1, max_rank=4, max_side=4):
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def activation_case(draw, name):
    shape = draw(any_shape())
    kwargs = {}
    if name == "leaky_relu":
        kwargs["negative_slope"] = draw(st.floats(-2, 2, allow_nan=False))
    if name in ("softmax", "log_softmax"):
        kwargs["axis"] = draw(st.integers(-len(shape), len(shape) - 1))
    return (shape,), kwargs, 1


@st.composite
def dense_case(draw):
    n, i, o = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return ((n, i), (o, i), (o,) if draw(st.booleans()) else None), {}, 3


@st.composite
def dropout_case(draw):
    kwargs = dict(p=draw(st.floats(0, 0.9)), training=draw(st.booleans()),
                  rng=draw(st.integers(0, 2**16)))  # fmt: skip
    return (draw(any_shape()),), kwargs, 1


@st.composite
def batch_norm_case(draw):
    shape = draw(any_shape(2, 5, 3))
    training = draw(st.booleans())
    # one value per channel is refused; with two, the normalized pair is +-d / sqrt(d^2 + eps),
    # nearly constant: its gradient (~eps / d^3) sits below the finite differences' round-off
    if training and np.prod(shape) // shape[1] < 3:
        shape = (3,) + shape[1:]
    c = (shape[1],)
    affine, running = draw(st.booleans()), draw(st.booleans()) or not training
    arrays = (shape, c if affine else None, c if affine else None,
              c if running else None, c if running else None)  # fmt: skip
    kwargs = dict(training=training, momentum=draw(st.floats(0, 1)),
                  eps=draw(st.floats(1e-5, 1e-1)))  # fmt: skip
    return arrays, kwargs, 3


def case_strategy(name):
    courses = courses_strategy(name)  # issue 16's ops (op_strategies_courses.py)
    if courses is not None:
        return courses
    if name.startswith("conv"):
        return conv_case(int(name[4]) if name[4].isdigit() else None or 2)
    if name == "global_avg_pool":
        return any_shape(3, 5, 4).map(lambda shape: ((shape,), {}, 1))
    if "pool" in name:
        return pool_case(int(name[-2]) if name[-2].isdigit() else 2)
    if name == "dense":
        return dense_case()
    if name == "dropout":
        return dropout_case()
    if name == "batch_norm":
        return batch_norm_case()
    return activation_case(name)


def test_every_op_has_a_strategy():
    for name in OPS:  # a new op without a family would fall through to the activations'
        assert name in ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax") or (
            name.startswith(("conv", "max_pool", "avg_pool", "global_avg_pool"))
            or name in ("dense", "dropout", "batch_norm")
            or courses_strategy(name) is not None
            or name in SKIPPED
        ), name


# where the suite draws values around 0, these ops need probabilities: test_ops.py's fixed
# cases (and their gradcheck) cover them instead
PROPERTY_OPS = sorted(set(OPS) - set(SKIPPED))


def _call(fn, arrays, kwargs, keys):
    """``fn(x, *rest, **kwargs)``, or the rest by the names ``keys`` (layer/group norm)."""
    if keys:
        return fn(arrays[0], **dict(zip(keys, arrays[1:], strict=True)), **kwargs)
    return fn(*arrays, **kwargs)


# ----------------------------------------------------------------------------- the checks
def _arrays(shapes, seed, scale):
    """Distinct values 1/n apart (n >= 10), never within 0.25/n of 0, times ``scale``;
    running variances positive."""
    rng = np.random.default_rng(seed)
    out = []
    for i, shape in enumerate(shapes):
        if shape is None:
            out.append(None)
            continue
        n = int(np.prod(shape))
        a = (rng.permutation(n).reshape(shape) - n / 2 + 0.25) / max(n, 10) * scale
        out.append(np.abs(a) + 0.5 if i == 4 else a)  # i == 4: batch norm's running_var
    return out


def _copies(arrays):
    return [None if a is None else a.copy() for a in arrays]


def _tiers(op):
    tiers = [(op.forward_naive, op.backward_naive)]
    if op.forward_vectorized is not None:
        tiers.append((op.forward_vectorized, op.backward_vectorized))
    return tiers


def _close(a, b):
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * scale)


# Where an op saturates, values 1e3 x (0.25/n ... 1/2) lie past |x| = 25, where its derivative
# (tanh: 4 exp(-2|x|) < 1e-21) is below the rounding of its output near +-1: no finite
# difference can see it, so those ops are checked at the scales where it can. Their curvature
# is on the unit scale whatever the values' scale, so their step is 1e-6, not 1e-6 x scale
# (at scale 1e-3, a step of 1e-9 left round-off of 2e-7 relative to sigmoid's 0.25).
SATURATING = {"sigmoid", "tanh", "softmax"}
# ELU saturates the same way towards -alpha (slope alpha e^-25 = 1e-11 beside a value near -1),
# but has a kink at 0 (slope 1 | alpha): the step stays relative to the scale
NO_LARGE_SCALE = SATURATING | {"elu"}
LOSSES = {"multi_margin_loss", "binary_cross_entropy_with_logits", "cross_entropy_onehot"}


@pytest.mark.parametrize("name", PROPERTY_OPS)
@BUDGET
@given(data=st.data())
def test_op_on_random_shapes_and_arguments(name, data):
    op = OPS[name]
    shapes, kwargs, n_grads, *keys = data.draw(case_strategy(name), label="case")
    keys = keys[0] if keys else ()
    seed = data.draw(st.integers(0, 2**16), label="seed")
    scales = [1.0, 1e-3] if name in NO_LARGE_SCALE else [1.0, 1e-3, 1e3]
    scale = data.draw(st.sampled_from(scales), label="scale")
    arrays = _arrays(shapes, seed, scale)
    updated = _copies(arrays)
    y, cache = _call(op.forward, updated, kwargs, keys)
    dy = np.random.default_rng(seed + 1).normal(size=y.shape)
    grads = op.backward(dy, cache)

    for forward, backward in _tiers(op):  # the loops (and the plain tier) agree
        updated_t = _copies(arrays)
        y_t, cache_t = _call(forward, updated_t, kwargs, keys)
        _close(y_t, y)
        for a, b in zip(updated_t, updated, strict=True):
            if a is not None:
                _close(a, b)
        for g, r in zip(backward(dy, cache_t), grads, strict=True):
            assert (g is None) == (r is None)
            if g is not None:
                _close(g, r)

    wrt = [j for j in range(n_grads) if arrays[j] is not None]
    state = {}

    def forward(*inputs):
        full = _copies(arrays)
        for j, a in zip(wrt, inputs, strict=True):
            full[j] = a
        y, state["cache"] = _call(op.forward, full, kwargs, keys)
        return y

    def backward(upstream):
        g = op.backward(upstream, state["cache"])
        return tuple(g[j] for j in wrt)

    # the finite-difference step is relative to the values' scale, so the error stays that
    # of central differences (~h^2) and not the rounding of a step too small for the values
    # and of a step too small for the other arrays (batch norm's running_var stays ~1 at scale
    # 1e-3: a step of 1e-9 left 1.6e-6). Floored at 1e-8, a step is still 250 times smaller
    # than the distance to the nearest kink or tie (0.25/n x 1e-3 for n < 1000 values).
    step = 1e-6 if name in SATURATING else 1e-6 * max(scale, 1e-2)
    if name in LOSSES:  # a loss is ~log 2 at logits near 0: a step of 1e-8 leaves round-off
        step = 1e-6 * max(scale, 1.0)  # of 1e-8 beside a gradient sigmoid(x) - t of 1e-3
    errors = check_function(forward, backward, [arrays[j].copy() for j in wrt],
                            rng=np.random.default_rng(seed + 2), h=step)  # fmt: skip
    assert max(errors) < 1e-6, (errors, shapes, kwargs)
