"""Every op of ``minidl.functional.OPS`` through the same checks (tinygrad's ``helper_test_op``).

For each op and each of its example cases below, in float64:

- the contract: the five functions carry the contract's names, the plain call equals the
  forward's ``y``, the cache is a frozen dataclass, the grads a named tuple of ``d*`` fields;
- the tiers agree: the loops (and the vectorized tier, where the public code is a faster one)
  give the public forward's ``y`` and backward's gradients to 1e-12, and each backward accepts
  another tier's cache;
- a gradcheck: central differences with a random upstream gradient, relative error < 1e-6
  (the cases keep every value away from a kink and from a tie of maxima);
- PyTorch: the same inputs through ``torch.nn.functional.<op.torch>`` and autograd, relative
  error < 1e-10 (float64: both sides are exact to ~1e-15, the margin covers summation order);
- bad input: an integer ``x`` or ``dy`` is a TypeError naming it, a ``dy`` of the wrong
  shape (numpy-broadcastable ones included) a ValueError naming ``dy``, anything but the
  forward's cache a TypeError naming ``cache``, in every tier.

Op-specific cases (padding rules, the blocked paths, hand-computed values) are in the op's own
test file.
"""

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest

from minidl.functional import OPS
from minidl.functional.windows import resolve_padding
from minidl.gradcheck import check_function


@dataclass(frozen=True)
class Case:
    """The forward's array arguments as shapes (None: not given), its keyword arguments, and
    how many of the arrays have gradients (the first ``n_grads``)."""

    arrays: tuple
    kwargs: dict = field(default_factory=dict)
    n_grads: int = 1
    torch: bool = True  # False where PyTorch cannot reproduce it (dropout's random mask)
    keys: tuple = ()  # names of arrays[1:] when they are passed by keyword (layer_norm's weight)
    fill: tuple = ()  # per array, values other than distinct floats: "labels", "mask", ...


CONV = dict(stride=(2, 1), padding="same", dilation=(1, 2), groups=2)
SHAPES = [(1, 1), (4, 5), (2, 3, 4), (2, 3, 2, 2), (3, 1)]  # activations, any rank
DENSE = [(1, 1, 1), (1, 5, 3), (4, 7, 2), (3, 2, 9), (8, 16, 5), (2, 3, 3)]  # N, in, out
BN = [(4, 3), (3, 1), (7, 5), (2, 3, 4), (1, 2, 5), (3, 2, 1), (2, 3, 2, 3), (1, 2, 3, 3),
      (3, 1, 2, 1), (2, 2, 2, 2, 3), (1, 3, 2, 1, 2)]  # fmt: skip


def _bn_cases(shape):
    c = shape[1]
    arrays = (shape, (c,), (c,), (c,), (c,))
    return [
        Case(arrays, dict(training=True, momentum=0.3), 3),
        Case((shape, None, None, (c,), (c,)), dict(training=True), 3),
        Case(arrays, dict(training=False, eps=1e-3), 3),
    ]


NORM = dict(keys=("weight", "bias"), n_grads=3)
LAYER_NORM = [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 2, 3), (3,))]
GROUP_NORM = [((2, 4, 3), 2), ((2, 6, 2, 3), 3), ((3, 4, 2, 2), 4), ((2, 3, 5), 1)]
LOSS = [(5, 4), (3, 6), (2, 2)]
UNFOLD_2D = dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
UNFOLD_1D = dict(kernel_size=3, padding=1, stride=2)  # overlapping windows: col2im sums
UNFOLD_3D = dict(kernel_size=2, stride=(1, 2, 1))


def _norm_cases(shape, kwargs, affine, bias_only=True):
    """Affine, none, and (layer norm) a bias without a weight: PyTorch 2.13's group_norm
    backward fails on that one ("tensor does not have a device")."""
    cases = [Case((shape, affine, affine), kwargs, **NORM),
             Case((shape, None, None), dict(kwargs, eps=1e-3), **NORM)]
    return cases + [Case((shape, None, affine), kwargs, **NORM)] * bias_only  # fmt: skip


CASES = {
    "conv_nd": [Case(((2, 4, 7, 6), (6, 2, 3, 2), (6,)), CONV, 3)],
    "conv1d": [Case(((2, 3, 9), (4, 3, 3), (4,)), dict(stride=2, padding=1), 3)],
    "conv2d": [Case(((2, 3, 7, 6), (4, 3, 3, 3), None), dict(padding=(1, 0), dilation=(1, 2)), 3)],
    "conv3d": [Case(((1, 2, 4, 5, 5), (3, 2, 2, 3, 3), (3,)), dict(stride=(1, 2, 2), padding=1),
                    3)],
    "max_pool": [Case(((2, 3, 7, 6),), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))],
    "avg_pool": [Case(((2, 3, 7, 6),), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))],
    "global_avg_pool": [Case((shape,)) for shape in [(2, 3, 5), (2, 3, 4, 5), (2, 1, 2, 3, 2)]],
    "dense": [Case(((n, i), (o, i), (o,) if bias else None), {}, 3)
              for n, i, o in DENSE for bias in (True, False)],
    "relu": [Case((shape,)) for shape in SHAPES],
    "leaky_relu": [Case((shape,), dict(negative_slope=0.2)) for shape in SHAPES],
    "sigmoid": [Case((shape,)) for shape in SHAPES],
    "tanh": [Case((shape,)) for shape in SHAPES],
    "softmax": [Case((shape,), dict(axis=a)) for shape in SHAPES for a in (0, 1, -1)],
    "log_softmax": [Case((shape,), dict(axis=a)) for shape in SHAPES for a in (0, 1, -1)],
    "dropout": [
        Case((shape,), dict(p=0.3, training=training, rng=7), torch=not training)
        for shape in [(3, 4), (2, 3, 5), (1, 2, 3, 3)] for training in (True, False)
    ],
    "batch_norm": [case for shape in BN for case in _bn_cases(shape)],
    "dropout_masked": [Case((shape, shape), dict(p=p), torch=False, fill=(None, "mask"))
                       for shape in SHAPES for p in (0.0, 0.3)],
    "dense_flatten": [Case(((3, 2, 3, 2), (5, 12), (5,)), {}, 3),
                      Case(((2, 4, 3), (3, 12), None), {}, 3), Case(((4, 7), (2, 7), (2,)), {}, 3)],
    "elu": [Case((shape,), dict(alpha=a)) for shape in SHAPES for a in (1.0, 0.7)],
    "gelu": [Case((shape,), dict(approximate=f)) for shape in SHAPES for f in ("none", "tanh")],
    "softplus": [Case((shape,), kw) for shape in SHAPES
                 for kw in ({}, dict(beta=2.0, threshold=0.55))],
    "layer_norm": [case for shape, ns in LAYER_NORM
                   for case in _norm_cases(shape, dict(normalized_shape=ns), ns)],
    "group_norm": [case for shape, g in GROUP_NORM
                   for case in _norm_cases(shape, dict(num_groups=g), (shape[1],), False)],
    # margin 0.33 is never a difference of two of _arrays' values (multiples of 1/n): no kink
    "multi_margin_loss": [Case((s, s[:1]), dict(margin=m), fill=(None, "labels"))
                          for s in LOSS for m in (1.0, 0.33)],
    "binary_cross_entropy": [Case((s, s), fill=("prob", "prob")) for s in LOSS + [(2, 3, 2)]],
    "binary_cross_entropy_with_logits": [Case((s, s), fill=(None, "prob"))
                                         for s in LOSS + [(2, 3, 2)]],
    "cross_entropy_probs": [Case((s, s[:1]), fill=("simplex", "labels")) for s in LOSS],
    "cross_entropy_onehot": [Case((s, s), fill=(None, kind)) for s in LOSS
                             for kind in ("onehot", "simplex")],
    # PyTorch's unfold/fold take 2-D images only: the 1-D and 3-D cases are checked by the
    # loops and the gradcheck
    "im2col": [Case(((2, 3, 7, 6),), UNFOLD_2D), Case(((2, 2, 9),), UNFOLD_1D, torch=False),
               Case(((1, 2, 3, 4, 4),), UNFOLD_3D, torch=False)],
    "col2im": [Case(((2, 18, 16),), dict(UNFOLD_2D, output_size=(7, 6))),
               Case(((2, 6, 5),), dict(UNFOLD_1D, output_size=(9,)), torch=False),
               Case(((1, 16, 12),), dict(UNFOLD_3D, output_size=(3, 4, 4)), torch=False)],
    "conv_transpose_nd": [Case(((2, 4, 3, 4), (4, 3, 3, 2), (6,)), dict(
        stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2, dilation=(1, 2)), 3)],
    "conv_transpose1d": [
        Case(((2, 3, 5), (3, 2, 3), (2,)), dict(stride=2, padding=1, output_padding=1), 3),
        Case(((1, 2, 4), (2, 3, 2), None), dict(dilation=3, output_padding=2), 3)],
    "conv_transpose2d": [Case(((2, 2, 3, 4), (2, 3, 2, 3), None), dict(stride=2, dilation=(2, 1)),
                              3),
                         Case(((1, 4, 3, 3), (4, 1, 3, 3), (2,)), dict(padding=1, groups=2), 3)],
    "conv_transpose3d": [Case(((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), (2,)),
                              dict(stride=(1, 2, 1), padding=(0, 1, 0)), 3)],
}  # fmt: skip
for d in (1, 2, 3):
    shape = {1: (2, 3, 9), 2: (2, 2, 7, 6), 3: (1, 2, 4, 5, 6)}[d]
    kw = {1: dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
          2: dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
          3: dict(kernel_size=2)}[d]  # fmt: skip
    CASES[f"max_pool{d}d"] = CASES[f"avg_pool{d}d"] = [Case((shape,), kw)]

PARAMS = [(name, i) for name in OPS for i in range(len(CASES[name]))]
IDS = [f"{name}-{i}" for name, i in PARAMS]
# the N-d ops are checked against PyTorch through their fixed-rank ops
TORCH = [(name, i) for name, i in PARAMS if OPS[name].torch and CASES[name][i].torch]


def test_every_op_has_cases():
    assert sorted(CASES) == sorted(OPS)


def _arrays(case, seed=0, dtype=np.float64):
    """Distinct values (1/n apart, n >= 10: never a tie of maxima) at least 0.025 from 0 (no
    kink within the 1e-6 step); running variances positive; the ``fill`` kinds as named."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i, shape in enumerate(case.arrays):
        if shape is None:
            arrays.append(None)
            continue
        n = int(np.prod(shape))
        a = (rng.permutation(n).reshape(shape) - n / 2 + 0.25) / max(n, 10)  # never 0
        if i == 4:  # a running variance
            a = np.abs(a) + 0.5
        kind = case.fill[i] if i < len(case.fill) else None
        if kind is not None:
            a = _special(kind, shape, case.arrays[0], rng)
        arrays.append(a if a.dtype.kind == "i" else a.astype(dtype))
    return arrays


def _special(kind, shape, x_shape, rng):
    if kind == "labels":  # integer classes for x (N, K)
        return rng.integers(0, x_shape[1], size=shape)
    if kind == "mask":  # keep (1) / drop (0), both present
        return (rng.permutation(int(np.prod(shape))).reshape(shape) % 3 != 0).astype(float)
    if kind == "prob":  # in (0.05, 0.95): away from the clamps and from 0 and 1
        return rng.uniform(0.05, 0.95, size=shape)
    if kind == "onehot":
        return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
    e = np.exp(rng.normal(size=shape))  # "simplex": rows of class probabilities
    return e / e.sum(axis=1, keepdims=True)


def _copies(arrays):
    return [None if a is None else a.copy() for a in arrays]  # a forward may update some


def _call(forward, case, arrays, **kwargs):
    """``forward`` on ``arrays`` (positional, or by the case's ``keys``) and the case's kwargs."""
    first, rest = arrays[0], list(arrays[1:])
    if case.keys:
        return forward(first, **dict(zip(case.keys, rest, strict=True)), **case.kwargs, **kwargs)
    return forward(first, *rest, **case.kwargs, **kwargs)


def _forward(forward, arrays, case):
    return _call(forward, case, _copies(arrays))


@pytest.mark.parametrize(("name", "i"), PARAMS, ids=IDS)
def test_contract(name, i):
    op, case = OPS[name], CASES[name][i]
    for role in ("forward", "backward", "forward_naive", "backward_naive"):
        assert getattr(op, role).__name__ == f"{name}_{role}"
    assert op.plain.__name__ == name and op.plain.__doc__ and op.forward.__doc__
    arrays = _arrays(case)
    y, cache = _forward(op.forward, arrays, case)
    np.testing.assert_array_equal(_forward(op.plain, arrays, case), y)
    assert dataclasses.is_dataclass(cache)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cache, dataclasses.fields(cache)[0].name, None)
    grads = op.backward(np.ones_like(y), cache)
    assert isinstance(grads, tuple) and all(f.startswith("d") for f in grads._fields)
    assert len(grads) == case.n_grads


@pytest.mark.parametrize(("name", "i"), PARAMS, ids=IDS)
def test_tiers_equal(name, i):
    """y, the gradients and the arrays a forward updates (batch norm's running statistics)."""
    op, case = OPS[name], CASES[name][i]
    arrays = _arrays(case)
    tiers = [(op.forward, op.backward), (op.forward_naive, op.backward_naive)]
    if op.forward_vectorized is not None:
        tiers.append((op.forward_vectorized, op.backward_vectorized))
    updated = _copies(arrays)
    y, cache = _call(op.forward, case, updated)
    dy = np.random.default_rng(1).normal(size=y.shape)
    ref = op.backward_naive(dy, _forward(op.forward_naive, arrays, case)[1])
    for forward, backward in tiers:
        updated_t = _copies(arrays)
        y_t, cache_t = _call(forward, case, updated_t)
        np.testing.assert_allclose(y_t, y, rtol=0, atol=1e-12)
        for a, b in zip(updated_t, updated, strict=True):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
        for grads in (backward(dy, cache_t), backward(dy, cache), op.backward_naive(dy, cache_t)):
            for g, r in zip(grads, ref, strict=True):
                assert (g is None) == (r is None)
                if g is not None:
                    np.testing.assert_allclose(g, r, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("name", "i"), PARAMS, ids=IDS)
def test_gradcheck(name, i, rng):
    op, case = OPS[name], CASES[name][i]
    arrays = _arrays(case)
    wrt = [j for j in range(case.n_grads) if arrays[j] is not None]
    state = {}

    def forward(*inputs):
        full = list(arrays)
        for j, a in zip(wrt, inputs, strict=True):
            full[j] = a
        y, state["cache"] = _forward(op.forward, full, case)
        return y

    def backward(dy):
        grads = op.backward(dy, state["cache"])
        return tuple(grads[j] for j in wrt)

    errors = check_function(forward, backward, [arrays[j].copy() for j in wrt], rng=rng)
    assert max(errors) < 1e-6, errors


def _torch_forward(op, tensors, kwargs):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    name = op.torch
    special = _torch_special(F, torch, op.name, tensors, kwargs)
    if special is not None:
        return special
    if name.startswith("conv"):  # TensorFlow's SAME may be asymmetric: pad explicitly
        x, w, b = tensors
        kw = dict(kwargs)
        nd = x.ndim - 2
        tup = lambda v: (v,) * nd if isinstance(v, int) else tuple(v)  # noqa: E731
        pads = resolve_padding(kw.pop("padding", 0), tuple(x.shape[2:]), tuple(w.shape[2:]),
                               tup(kw.get("stride", 1)), tup(kw.get("dilation", 1)))  # fmt: skip
        return getattr(F, name)(F.pad(x, [v for p in reversed(pads) for v in p]), w, b, **kw)
    if "pool" in name:
        return getattr(F, name)(tensors[0], **kwargs)  # avg: count_include_pad=True, as minidl
    if name == "linear":
        return F.linear(*tensors)
    if name in ("softmax", "log_softmax"):
        return getattr(F, name)(tensors[0], dim=kwargs["axis"])
    if name == "batch_norm":
        x, w, b, rm, rv = tensors
        return F.batch_norm(x, rm, rv, w, b, **kwargs)
    if name == "dropout":
        return F.dropout(tensors[0], p=kwargs["p"], training=kwargs["training"])
    if name in ("sigmoid", "tanh"):
        return getattr(torch, name)(tensors[0])
    return getattr(F, name)(tensors[0], **kwargs)


def _torch_special(F, torch, name, tensors, kwargs):
    """The ops whose PyTorch call differs from minidl's in more than the keyword names."""
    if name.startswith("conv_transpose"):
        return getattr(F, name)(*tensors, **kwargs)
    if name == "dense_flatten":
        return F.linear(tensors[0].flatten(1), *tensors[1:])
    if name in ("layer_norm", "group_norm"):
        x, w, b = tensors
        arg = kwargs["normalized_shape" if name == "layer_norm" else "num_groups"]
        arg = tuple(arg) if isinstance(arg, tuple) else arg
        return getattr(F, name)(x, arg, w, b, kwargs.get("eps", 1e-5))
    if name == "cross_entropy_probs":
        return F.nll_loss(torch.log(tensors[0]), tensors[1])
    if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        return getattr(F, name)(*tensors)
    if name == "cross_entropy_onehot":  # a float target: class probabilities
        return F.cross_entropy(*tensors)
    if name == "multi_margin_loss":
        return F.multi_margin_loss(*tensors, margin=kwargs["margin"])
    return None


@pytest.mark.parametrize(("name", "i"), TORCH, ids=[f"{name}-{i}" for name, i in TORCH])
def test_against_torch(name, i):
    op, case = OPS[name], CASES[name][i]
    torch = pytest.importorskip("torch")
    arrays = _arrays(case)
    y, cache = _forward(op.forward, arrays, case)
    dy = np.random.default_rng(2).normal(size=y.shape)
    grads = op.backward(dy, cache)
    tensors = [
        None if a is None else torch.tensor(a, requires_grad=j < case.n_grads)
        for j, a in enumerate(_copies(arrays))
    ]
    y_t = _torch_forward(op, tensors, case.kwargs)
    y_t.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(grads, tensors, strict=False):
        if t is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def _broadcastable(shape):
    """Shapes numpy would broadcast to ``shape`` but the backward must refuse: one axis of
    size > 1 set to 1, a leading axis of 1, a scalar."""
    wrong = [shape[:a] + (1,) + shape[a + 1 :] for a in range(len(shape)) if shape[a] > 1]
    return wrong + [(1,) + shape] + [()] * (shape != ())  # a loss's dy is () itself


def _tiers(op):
    tiers = [(op.forward, op.backward), (op.forward_naive, op.backward_naive)]
    if op.forward_vectorized is not None:
        tiers.append((op.forward_vectorized, op.backward_vectorized))
    return tiers


@pytest.mark.parametrize(("name", "i"), PARAMS, ids=IDS)
def test_bad_input(name, i):
    """The contract's shared checks (``contract.check_grad`` / ``check_cache``), every tier:
    an integer ``x`` or ``dy`` is a TypeError (never integer gradients), a ``dy`` numpy would
    broadcast is a ValueError naming ``dy`` and the shape expected, and anything but the
    forward's cache (a bias array, say) is a TypeError naming ``cache``."""
    op, case = OPS[name], CASES[name][i]
    arrays = _arrays(case)
    for forward, backward in _tiers(op):
        with pytest.raises(TypeError, match=r"x .*dtype float32 or float64, got int64"):
            _call(forward, case, [arrays[0].astype(np.int64), *_copies(arrays[1:])])
        y, cache = _forward(forward, arrays, case)
        for shape in [y.shape + (2,), *_broadcastable(y.shape)]:
            with pytest.raises(ValueError, match=r"dy must have the forward output's shape"):
                backward(np.ones(shape), cache)
        with pytest.raises(TypeError, match=r"dy must have dtype float32 or float64, got int64"):
            backward(np.ones(y.shape, dtype=np.int64), cache)
        for not_a_cache in (np.ones(y.shape[1:2]), None, y.shape):
            with pytest.raises(TypeError, match=r"_backward\w*: cache must be the \w+Cache"):
                backward(np.ones_like(y), not_a_cache)
