"""Hypothesis strategies for the ops of issue 16 (the families courses teach) in the property
suite, test_ops_property.py (a helper module, not a test file: pytest puts this folder on
sys.path, so the suite imports it by name).

Each strategy draws ``(arrays, kwargs, n_grads)`` as the suite's own do, plus ``keys`` where
the arrays after ``x`` go by keyword (layer/group norm take ``normalized_shape`` /
``num_groups`` second). Arrays the suite would fill with its distinct values but that must be
labels, masks or targets (no gradient) are drawn here and passed as keyword arguments.

Values are the suite's (k + 0.25 - n/2) / n times a scale of 1e-3, 1 or 1e3, n <= 256 values of
sides <= 4 (products of 2 and 3): the kinks chosen here (softplus's threshold / beta, the hinge
margin) are never such a value or difference, so no finite-difference step straddles one.
"""

import math

import numpy as np
from hypothesis import strategies as st

# the suite leaves these to test_ops.py's fixed cases (fills 'prob' and 'simplex'): their
# first array must hold probabilities, and the suite draws values around 0 for it
SKIPPED = {
    "binary_cross_entropy": "x must hold probabilities in [0, 1]",
    "cross_entropy_probs": "x must hold rows of class probabilities",
}


def _shape(draw, min_rank=1, max_rank=4, max_side=4):
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(1, max_side)) for _ in range(rank))


@st.composite
def smooth_activation_case(draw, name):
    kwargs = {
        "elu": lambda: dict(alpha=draw(st.floats(0.1, 2.0))),
        "gelu": lambda: dict(approximate=draw(st.sampled_from(["none", "tanh"]))),
        # threshold / beta is 20, 10 or 200/7: never one of the values (see the module doc)
        "softplus": lambda: dict(beta=draw(st.sampled_from([1.0, 2.0, 0.7]))),
    }[name]()
    return ((_shape(draw),), kwargs, 1)


@st.composite
def dropout_masked_case(draw):
    shape = _shape(draw)
    keep = draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))
    mask = np.array(keep, dtype=np.float64).reshape(shape)
    return ((shape,), dict(mask=mask, p=draw(st.floats(0.0, 0.9))), 1)


@st.composite
def dense_flatten_case(draw):
    shape = (draw(st.integers(1, 3)),) + _shape(draw, 1, 3, 3)
    out, features = draw(st.integers(1, 4)), math.prod(shape[1:])
    bias = (out,) if draw(st.booleans()) else None
    return ((shape, (out, features), bias), {}, 3)


@st.composite
def norm_case(draw, name):
    """At least 3 values per normalization (two are +-d / sqrt(d^2 + eps), nearly constant:
    their gradient sits below the finite differences' round-off, as batch norm's)."""
    eps = draw(st.floats(1e-5, 1e-1))
    affine = draw(st.booleans())
    if name == "layer_norm":
        shape = _shape(draw, 2, 4, 4)
        k = draw(st.integers(1, len(shape) - 1))
        normalized = shape[len(shape) - k :]
        if math.prod(normalized) < 3:
            normalized = (3,) + normalized[1:]
            shape = shape[: len(shape) - k] + normalized
        param = normalized if affine else None
        return ((shape, param, param), dict(normalized_shape=normalized, eps=eps), 3,
                ("weight", "bias"))  # fmt: skip
    groups = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))) + _shape(draw, 1, 2, 3)
    if math.prod(shape[1:]) // groups < 3:
        shape = shape[:2] + (3,) + shape[3:]
    param = (shape[1],) if affine else None
    return ((shape, param, param), dict(num_groups=groups, eps=eps), 3, ("weight", "bias"))


@st.composite
def loss_case(draw, name):
    n, k = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if name == "multi_margin_loss":  # margin 1 or 0.33: never a difference of two values
        labels = rng.integers(0, k, size=n)
        return (((n, k),), dict(target=labels, margin=draw(st.sampled_from([1.0, 0.33]))), 1)
    if name == "binary_cross_entropy_with_logits":
        shape = _shape(draw, 1, 3, 4)
        return ((shape,), dict(target=rng.uniform(0, 1, size=shape)), 1)
    target = rng.dirichlet(np.ones(k), size=n)  # cross_entropy_onehot: soft or one-hot rows
    if draw(st.booleans()):
        target = np.eye(k)[rng.integers(0, k, size=n)]
    return (((n, k),), dict(target=target), 1)


@st.composite
def conv_transpose_case(draw, nd):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    # output_padding < max(stride, dilation), PyTorch's rule
    pairs = zip(stride, dilation, strict=True)
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in pairs)
    spatial = tuple(draw(st.integers(1, {1: 5, 2: 4, 3: 3}[nd])) for _ in range(nd))
    # padding up to 1 where the output stays positive
    padding = tuple(
        min(draw(st.integers(0, 1)), ((n - 1) * s + d * (k - 1) + e) // 2)
        for n, s, d, k, e in zip(spatial, stride, dilation, kernel, extra, strict=True)
    )
    bias = (c_out,) if draw(st.booleans()) else None
    arrays = ((draw(st.integers(1, 2)), c_in) + spatial, (c_in, c_out // groups) + kernel, bias)
    kwargs = dict(stride=stride, padding=padding, output_padding=extra, groups=groups,
                  dilation=dilation)  # fmt: skip
    return arrays, kwargs, 3


@st.composite
def window_case(draw, name):
    """im2col on an image, or col2im on the columns of one."""
    nd = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), d * (k - 1) + 4))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kwargs = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    if name == "im2col":
        return (((n, c) + spatial,), kwargs, 1)
    geometry = zip(spatial, padding, dilation, kernel, stride, strict=True)
    windows = math.prod((m + 2 * p - d * (k - 1) - 1) // s + 1 for m, p, d, k, s in geometry)
    return (((n, c * math.prod(kernel), windows),), dict(kwargs, output_size=spatial), 1)


def courses_strategy(name):
    """The strategy of an issue-16 op, or None for the suite's own ops."""
    if name.startswith("conv_transpose"):
        return conv_transpose_case(int(name[-2]) if name[-2].isdigit() else 2)
    if name in ("elu", "gelu", "softplus"):
        return smooth_activation_case(name)
    if name in ("layer_norm", "group_norm"):
        return norm_case(name)
    if name in ("multi_margin_loss", "binary_cross_entropy_with_logits", "cross_entropy_onehot"):
        return loss_case(name)
    if name in ("im2col", "col2im"):
        return window_case(name)
    return {"dropout_masked": dropout_masked_case, "dense_flatten": dense_flatten_case}.get(
        name, lambda: None
    )()
