"""Hypotheses for convolution and pooling (and the channels-last reading batch norm shares):
a flipped kernel, an argument ignored or off by one, SAME padding without the stride, max
pooling over zeros, the other ``ceil_mode``... Protocol in :mod:`minidl.conformance.diagnose`;
each is minidl called with the mistaken arguments (:func:`~minidl.conformance.hypothesis.
minidl_outputs`), so gradients are predicted along with the outputs."""

import math

import numpy as np

from minidl.conformance.hypothesis import kwarg, minidl_outputs, registrar, rerun, tup
from minidl.conformance.reference import REFERENCE
from minidl.functional.windows import resolve_padding

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)

CONV = ("conv1d", "conv2d", "conv3d")
POOL = tuple(f"{k}_pool{d}d" for k in ("max", "avg") for d in (1, 2, 3))
BN = ("batch_norm_train", "batch_norm_eval")


def _nd(case):
    return case.inputs["x"].ndim - 2


def _kernel(family, case):
    if "weight" in case.inputs:
        return case.inputs["weight"].shape[2:]
    return tup(kwarg(case, "kernel_size"), _nd(case))


def _pads(family, case, padding=None, stride=None, dilation=None):
    """The case's padding as ``((lo, hi), ...)``, resolved by minidl's rule."""
    nd = _nd(case)
    padding = kwarg(case, "padding", 0) if padding is None else padding
    stride = kwarg(case, "stride", 1) if stride is None else stride
    dilation = kwarg(case, "dilation", 1) if dilation is None else dilation
    x = case.inputs["x"]
    kernel = _kernel(family, case)
    return resolve_padding(padding, x.shape[2:], kernel, tup(stride, nd), tup(dilation, nd))


# ------------------------------------------------------------------ every windowed family
@hypothesis(*CONV, *POOL, *BN)
def channels_last_layout(family, case, run, got):
    if case.inputs["x"].ndim < 3:
        return  # (N, C): moving the channel axis last changes nothing, so it explains nothing
    variants = [("(N, *spatial, C)", "nhwc")]
    if "weight" in family.args:
        variants.append(("(N, *spatial, C) with a (*kernel, C_in, C_out) weight", "nhwc_hwio"))
    for layout, wrapper in variants:
        out = rerun(run, wrapper, case)
        if out is not None:
            yield (
                f"reads x as channels-last {layout} (NHWC) but the convention is channels-first "
                f"(N, C, *spatial); transpose, or check with the {wrapper} adapter",
                {"y": case.outputs["y"]},
                out,
            )


@hypothesis(*CONV, *POOL)
def ignored_argument(family, case, run, got):
    """The candidate never uses an argument: it acts as the default (padding 0, stride 1 or
    the kernel size, dilation 1)."""
    nd = _nd(case)
    padding = kwarg(case, "padding", 0)
    if padding != "valid" and any(lo or hi for lo, hi in _pads(family, case)):
        yield "ignores padding (acts as padding=0)", minidl_outputs(family, case, padding=0), got
    if "dilation" in family.keywords and any(d != 1 for d in tup(kwarg(case, "dilation", 1), nd)):
        # with 'same' the padding was computed with the dilation the candidate ignores
        pred = minidl_outputs(family, case, dilation=1)
        yield "ignores dilation (acts as dilation=1)", pred, got
    stride = tup(kwarg(case, "stride", 1), nd)
    kernel = tuple(_kernel(family, case))
    defaults = [("1", (1,) * nd)] + ([("kernel_size", kernel)] if family.name in POOL else [])
    for label, default in defaults:
        if stride != default:
            pred = minidl_outputs(family, case, stride=list(default))
            yield f"ignores stride (acts as stride={label})", pred, got


@hypothesis(*CONV)
def flipped_kernel(family, case, run, got):
    w = case.inputs["weight"]
    spatial = tuple(range(2, w.ndim))
    pred = minidl_outputs(family, case, inputs=dict(case.inputs, weight=np.flip(w, spatial)))
    if "grad weight" in pred:  # the gradient of the flipped kernel, flipped back
        pred["grad weight"] = np.flip(pred["grad weight"], spatial)
    yield (
        "kernel flipped: computes a true convolution, not the cross-correlation "
        "y[i] = sum_p x[s*i + d*p] w[p] of minidl and every framework",
        pred,
        got,
    )


@hypothesis(*CONV)
def groups_ignored(family, case, run, got):
    """Code without groups whose window times the weight broadcasts: every output channel
    sums over all C_in input channels, the weight's C_in/groups channels repeated."""
    groups = case.kwargs.get("groups", 1)
    w = case.inputs["weight"]
    if groups == 1:
        return
    tiled = np.tile(w, (1, groups) + (1,) * (w.ndim - 2))
    pred = minidl_outputs(family, case, inputs=dict(case.inputs, weight=tiled), groups=1)
    if "grad weight" in pred:  # the repeated weight's gradient, summed over its copies
        g = pred["grad weight"]
        pred["grad weight"] = g.reshape((w.shape[0], groups) + w.shape[1:]).sum(axis=1)
    yield (
        f"ignores groups: every output channel sums over all C_in input channels (its "
        f"C_in/groups = {w.shape[1]} weight channels repeated); with groups={groups} output "
        f"channel o sees only the input channels of its group",
        pred,
        got,
    )


def _padding_variants(family, case):
    """(detail, pads) for off-by-one versions of the case's padding."""
    padding = kwarg(case, "padding", 0)
    pads = _pads(family, case)
    if isinstance(padding, str):
        if padding == "valid":
            yield "pads 1 where 'valid' means no padding", tuple((1, 1) for _ in pads)
            return
        yield (
            "puts SAME padding's odd extra zero at the start; TensorFlow (and minidl) put it at "
            "the end",
            tuple((hi, lo) for lo, hi in pads),
        )
        yield "pads SAME symmetrically with total // 2", tuple((lo, lo) for lo, _ in pads)
        yield "pads SAME symmetrically with ceil(total / 2)", tuple((hi, hi) for _, hi in pads)
        return
    if any(lo > 0 for lo, _ in pads):
        yield (
            "pads one less than asked (padding - 1)",
            tuple((max(lo - 1, 0),) * 2 for lo, _ in pads),
        )
    yield "pads one more than asked (padding + 1)", tuple((lo + 1, lo + 1) for lo, _ in pads)


@hypothesis(*CONV)
def off_by_one_padding(family, case, run, got):
    for detail, pads in _padding_variants(family, case):
        yield f"off-by-one padding: {detail}", minidl_outputs(family, case, pads=pads), got


@hypothesis(*CONV)
def same_padding_ignores_stride(family, case, run, got):
    nd = _nd(case)
    stride = tup(kwarg(case, "stride", 1), nd)
    if kwarg(case, "padding") != "same" or all(s == 1 for s in stride):
        return
    as_stride_one = _pads(family, case, stride=1)
    yield (
        "'same' padding computed as for stride 1 (d (k - 1) in total), then strided; "
        "TensorFlow's SAME with stride s pads max((ceil(n / s) - 1) s + d (k - 1) + 1 - n, 0)",
        minidl_outputs(family, case, pads=as_stride_one),
        got,
    )
    # 'same' read as "output size = input size" whatever the stride (numpy-ml's pad2D)
    x, kernel = case.inputs["x"], _kernel(family, case)
    dilation = tup(kwarg(case, "dilation", 1), nd)
    pads = []
    for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True):
        total = max(s * (n - 1) + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    yield (
        "'same' padding keeps the input size n (pads s (n - 1) + d (k - 1) + 1 - n) whatever "
        "the stride; TensorFlow's SAME gives ceil(n / s) outputs",
        minidl_outputs(family, case, pads=tuple(pads)),
        got,
    )


@hypothesis(*CONV)
def zero_based_dilation(family, case, run, got):
    nd = _nd(case)
    d = tup(kwarg(case, "dilation", 1), nd)
    pads = _pads(family, case)
    variants = [("d + 1", tuple(v + 1 for v in d))]
    if all(v >= 2 for v in d):
        variants.append(("d - 1", tuple(v - 1 for v in d)))
    for detail, new in variants:
        # the padding as asked (resolved with the true dilation), or recomputed with the wrong one
        for pred in (
            minidl_outputs(family, case, dilation=list(new)),
            minidl_outputs(family, case, pads=pads, dilation=list(new)),
        ):
            yield (
                f"dilation off by one (acts as dilation {detail}): the convention is 1-based, "
                "dilation=1 is the ordinary kernel and taps are d*p apart",
                pred,
                got,
            )


# ------------------------------------------------------------------ pooling
@hypothesis(*POOL)
def pool_padding(family, case, run, got):
    for detail, pads in _padding_variants(family, case):
        if all(lo == hi for lo, hi in pads):  # pooling takes symmetric padding only
            pred = minidl_outputs(family, case, padding=[lo for lo, _ in pads])
            yield f"off-by-one padding: {detail}", pred, got


@hypothesis(*POOL[:3])
def max_pool_pads_zeros(family, case, run, got):
    pads = _pads(family, case)
    if any(lo or hi for lo, hi in pads):
        yield (
            "pads with zeros before taking the maximum: a window over the border returns 0 where "
            "every real input is negative; max pooling pads with -inf (padding never wins)",
            minidl_outputs(family, case, pads=pads),
            got,
        )


@hypothesis(*POOL)
def pool_ceil_mode(family, case, run, got):
    ceil = bool(case.kwargs["ceil_mode"])
    yield (
        f"output size rounded {'down' if ceil else 'up'} (ceil_mode={not ceil}, asked "
        f"{ceil}): the last partial window is {'dropped' if ceil else 'kept'}",
        minidl_outputs(family, case, ceil_mode=not ceil),
        got,
    )


@hypothesis(*POOL[3:])
def avg_excludes_padding(family, case, run, got):
    forward = REFERENCE[family.name][0]
    kw = {k: case.kwargs[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    x = case.inputs["x"]
    # mean over the real inputs only = (sum / D) / (count / D), both by minidl's avg_pool
    pred = forward(x, **kw)[0] / forward(np.ones_like(x), **kw)[0]
    if math.isclose(float(np.max(np.abs(pred - case.outputs["y"]))), 0.0):
        return
    yield (
        "average excludes the zero padding from the divisor (count_include_pad=False); the "
        "convention (minidl, PyTorch's default) counts it",
        {"y": pred},
        got,
    )
