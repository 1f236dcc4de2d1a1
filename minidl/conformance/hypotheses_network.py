"""Hypotheses for the network families: convolution, pooling, batch norm, dense, softmax, loss.

Each is a generator ``h(family, case, run, got)`` of ``(detail, predicted, observed)``
(:mod:`minidl.conformance.diagnose` explains the protocol), registered in ``HYPOTHESES`` under
the families it applies to, most specific first.
"""

from dataclasses import replace

import numpy as np

from minidl.conformance.adapters import _value
from minidl.conformance.reference import REFERENCE
from minidl.functional.batchnorm import batch_norm, batch_norm_forward
from minidl.functional.conv import conv_nd
from minidl.functional.pool import avg_pool, max_pool
from minidl.functional.windows import pad_array, resolve_padding


def registrar(table):
    """A decorator ``@hypothesis(*families)`` that lists the function in ``table[family]``."""

    def hypothesis(*families):
        def register(fn):
            for f in families:
                table.setdefault(f, []).append(fn)
            return fn

        return register

    return hypothesis


HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)


CONV = ("conv1d", "conv2d", "conv3d")
POOL = tuple(f"{k}_pool{d}d" for k in ("max", "avg") for d in (1, 2, 3))
BN = ("batch_norm_train", "batch_norm_eval")


def _conv_kwargs(case):
    kw = {k: _value(k, {}, case.kwargs) for k in ("stride", "padding", "dilation", "groups")}
    return kw


def _conv(case, x=None, weight=None, **override):
    kw = dict(_conv_kwargs(case), **override)
    x = case.inputs["x"] if x is None else x
    weight = case.inputs["weight"] if weight is None else weight
    return {"y": conv_nd(x, weight, case.inputs.get("bias"), **kw)}


def _forward_only(run, inputs, kwargs):
    return run(inputs, kwargs)[0]


# ------------------------------------------------------------------ convolution
@hypothesis(*CONV)
def flipped_kernel(family, case, run, got):
    w = case.inputs["weight"]
    flipped = np.flip(w, axis=tuple(range(2, w.ndim)))
    yield (
        "kernel flipped: computes a true convolution, not the cross-correlation "
        "y[i] = sum_p x[s*i + d*p] w[p] of minidl and every framework",
        _conv(case, weight=flipped),
        got,
    )


@hypothesis(*CONV, *POOL, *BN)
def channels_last_layout(family, case, run, got):
    variants = [("(N, *spatial, C)", "nhwc")]
    if "weight" in family.args:
        variants.append(("(N, *spatial, C) with a (*kernel, C_in, C_out) weight", "nhwc_hwio"))
    for layout, wrapper in variants:
        if not hasattr(run, "variant"):
            return  # a hand-made runner: no way to insert the layout change
        try:
            out = _forward_only(run.variant(wrapper), case.inputs, case.kwargs)
        except Exception:  # noqa: BLE001 - a candidate may fail in any way on this layout
            continue
        yield (
            f"reads x as channels-last {layout} (NHWC) but the convention is channels-first "
            f"(N, C, *spatial); transpose, or check with the {wrapper} adapter",
            {"y": case.outputs["y"]},
            out,
        )


def _padding_variants(case, kernel, nd):
    """(detail, pads) for off-by-one versions of the case's padding."""
    x = case.inputs["x"]
    kw = _conv_kwargs(case) if "weight" in case.inputs else {}
    padding = _value("padding", {}, case.kwargs)
    stride = _value("stride", {}, case.kwargs)
    dilation = kw.get("dilation", 1)

    def tup(v):
        return (v,) * nd if isinstance(v, int) else tuple(v)

    if isinstance(padding, str):
        pads = resolve_padding(padding, x.shape[2:], kernel, tup(stride), tup(dilation))
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
    p = tup(padding)
    if any(v > 0 for v in p):
        yield "pads one less than asked (padding - 1)", tuple((max(v - 1, 0),) * 2 for v in p)
    yield "pads one more than asked (padding + 1)", tuple((v + 1, v + 1) for v in p)


@hypothesis(*CONV)
def off_by_one_padding(family, case, run, got):
    w = case.inputs["weight"]
    nd = w.ndim - 2
    for detail, pads in _padding_variants(case, w.shape[2:], nd):
        try:
            pred = _conv(case, x=pad_array(case.inputs["x"], pads), padding=0)
        except ValueError:
            continue
        yield f"off-by-one padding: {detail}", pred, got


@hypothesis(*CONV)
def zero_based_dilation(family, case, run, got):
    x, w = case.inputs["x"], case.inputs["weight"]
    kw = _conv_kwargs(case)
    nd = x.ndim - 2
    d = (kw["dilation"],) * nd if isinstance(kw["dilation"], int) else tuple(kw["dilation"])
    s = (kw["stride"],) * nd if isinstance(kw["stride"], int) else tuple(kw["stride"])
    # the padding as asked (resolved with the true dilation), or recomputed with the wrong one
    pads = resolve_padding(kw["padding"], x.shape[2:], w.shape[2:], s, d)
    variants = [("d + 1", tuple(v + 1 for v in d))]
    if all(v >= 2 for v in d):
        variants.append(("d - 1", tuple(v - 1 for v in d)))
    for detail, new in variants:
        for xx, padding in ((x, kw["padding"]), (pad_array(x, pads), 0)):
            try:
                pred = _conv(case, x=xx, padding=padding, dilation=new)
            except ValueError:
                continue
            yield (
                f"dilation off by one (acts as dilation {detail}): the convention is 1-based, "
                "dilation=1 is the ordinary kernel and taps are d*p apart",
                pred,
                got,
            )


# ------------------------------------------------------------------ pooling
def _pool_fn(case_family):
    return max_pool if case_family.startswith("max") else avg_pool


def _pool(case, fn, **override):
    kw = {k: _value(k, {}, case.kwargs) for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    kw.update(override)
    return fn(case.inputs["x"], **kw)


@hypothesis(*POOL)
def pool_padding(family, case, run, got):
    fn = _pool_fn(family.name)
    nd = case.inputs["x"].ndim - 2
    k = _value("kernel_size", {}, case.kwargs)
    kernel = (k,) * nd if isinstance(k, int) else tuple(k)
    for detail, pads in _padding_variants(case, kernel, nd):
        try:
            pred = {"y": _pool(case, fn, padding=tuple(lo for lo, _ in pads))}
        except ValueError:
            continue
        yield f"off-by-one padding: {detail}", pred, got


@hypothesis(*POOL)
def pool_ceil_mode(family, case, run, got):
    ceil = bool(case.kwargs["ceil_mode"])
    try:
        pred = {"y": _pool(case, _pool_fn(family.name), ceil_mode=not ceil)}
    except ValueError:
        return
    yield (
        f"output size rounded {'down' if ceil else 'up'} (ceil_mode={not ceil}, asked "
        f"{ceil}): the last partial window is {'dropped' if ceil else 'kept'}",
        pred,
        got,
    )


@hypothesis(*POOL[3:])
def avg_excludes_padding(family, case, run, got):
    ones = np.ones_like(case.inputs["x"])
    # mean over the real inputs only = (sum / D) / (count / D), both by minidl's avg_pool
    pred = _pool(case, avg_pool) / _pool(replace(case, inputs=dict(case.inputs, x=ones)), avg_pool)
    yield (
        "average excludes the zero padding from the divisor (count_include_pad=False); the "
        "convention (minidl, PyTorch's default) counts it",
        {"y": pred},
        got,
    )


# ------------------------------------------------------------------ batch norm
def _bn_stats(x, ddof):
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes, ddof=ddof)


def _bn_kw(case):
    return {k: case.inputs[k] for k in ("weight", "bias")} | {"eps": case.kwargs["eps"]}


@hypothesis("batch_norm_train")
def unbiased_variance(family, case, run, got):
    x = case.inputs["x"]
    mean, var1 = _bn_stats(x, ddof=1)
    # normalizing with fixed statistics is minidl's evaluation mode
    y = batch_norm(x, running_mean=mean, running_var=var1, training=False, **_bn_kw(case))
    yield (
        "normalizes with the unbiased variance (ddof=1); the batch is normalized with the "
        "biased variance (ddof=0), only the running estimate is unbiased",
        {"y": y},
        got,
    )


@hypothesis("batch_norm_train")
def running_estimates_in_training(family, case, run, got):
    x, i = case.inputs["x"], case.inputs
    y = batch_norm(
        x,
        running_mean=i["running_mean"],
        running_var=i["running_var"],
        training=False,
        **_bn_kw(case),
    )
    yield "normalizes with the running estimates in training mode", {"y": y}, got


@hypothesis("batch_norm_train")
def running_update_conventions(family, case, run, got):
    x, i, m = case.inputs["x"], case.inputs, case.kwargs["momentum"]
    mean, var0 = _bn_stats(x, ddof=0)
    n = x.size // x.shape[1]
    rm, rv = i["running_mean"], i["running_var"]
    yield (
        "updates the running variance with the biased batch variance; PyTorch (and minidl) "
        "use the unbiased n/(n-1) v",
        {"running_var": (1 - m) * rv + m * var0},
        got,
    )
    yield (
        "momentum is the weight of the OLD value (Keras' convention); here it weighs the new "
        "batch statistic: r <- (1 - m) r + m s",
        {
            "running_mean": m * rm + (1 - m) * mean,
            "running_var": m * rv + (1 - m) * var0 * n / (n - 1),
        },
        got,
    )


@hypothesis("batch_norm_eval")
def batch_statistics_in_eval(family, case, run, got):
    i = case.inputs
    rm, rv = i["running_mean"].copy(), i["running_var"].copy()
    y = batch_norm_forward(
        i["x"],
        running_mean=rm,
        running_var=rv,
        training=True,
        momentum=case.kwargs["momentum"],
        **_bn_kw(case),
    )[0]
    yield "normalizes with the batch statistics in evaluation mode", {"y": y}, got
    yield (
        "updates the running estimates in evaluation mode",
        {"running_mean": rm, "running_var": rv},
        got,
    )


# ------------------------------------------------------------------ dense, softmax, losses
@hypothesis("dense")
def transposed_dense_weight(family, case, run, got):
    inputs = dict(case.inputs, weight=case.inputs["weight"].T.copy())
    try:
        out = _forward_only(run, inputs, case.kwargs)
    except Exception:  # noqa: BLE001
        return
    yield (
        "takes weight as (in_features, out_features), y = x @ W + b; the convention is "
        "PyTorch's (out_features, in_features), y = x @ W.T + b",
        {"y": case.outputs["y"]},
        out,
    )


@hypothesis("softmax", "log_softmax")
def softmax_axis(family, case, run, got):
    x, axis = case.inputs["x"], case.kwargs["axis"] % case.inputs["x"].ndim
    fn = REFERENCE[family.name][0]
    for a in range(x.ndim):
        if a != axis:
            yield f"normalizes over axis {a} instead of axis {axis}", {"y": fn(x, a)[0]}, got


@hypothesis("cross_entropy")
def smoothing_ignored(family, case, run, got):
    if case.kwargs.get("label_smoothing"):
        y = REFERENCE["cross_entropy"][0](case.inputs["logits"], case.inputs["target"])[0]
        yield "ignores label_smoothing", {"y": y}, got
