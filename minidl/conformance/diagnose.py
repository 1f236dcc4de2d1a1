"""Why did a case fail? Test named convention mistakes against the golden data.

Each hypothesis is a generator ``h(family, case, run, got)`` (``got``: the candidate's outputs
on the case) of ``(detail, predicted, observed)`` triples, one per variant it tries:
``predicted`` and ``observed`` are dicts of arrays that agree if the candidate made that
mistake. Three kinds:

- *model the mistake*: ``predicted`` is what minidl gives under the wrong convention (the
  kernel flipped, padding one less, the unbiased variance ...), ``observed`` the candidate's
  own outputs on the case;
- *rerun*: the candidate is run again on transformed inputs (channels-last ``x``, a transposed
  dense weight), its outputs transformed back: ``observed``; ``predicted`` the golden outputs;
- *reinterpret*: the candidate's outputs transformed (PCA components as columns).

A hypothesis *explains* a failure when its arrays agree within the check's tolerance and at
least one of them had failed (or the candidate raised). :func:`diagnose` returns the messages
of those that explain it, in the order listed (most specific first); otherwise it falls back
to generic findings (non-finite values, a constant factor, forward right but a gradient
wrong). Hypotheses are models of *mistakes*; the correct behaviour is minidl's own code. The
few lines here that compute rather than call minidl (a biased running update, a rounding
rule) are the mistake itself, which minidl does not implement.
"""

from dataclasses import replace

import numpy as np

from minidl.compression.pruning import mask_from_scores
from minidl.compression.quantization import _round_half_away, qrange, quantize_codes
from minidl.conformance.adapters import _value
from minidl.conformance.reference import REFERENCE
from minidl.functional.batchnorm import batch_norm, batch_norm_forward
from minidl.functional.conv import conv_nd
from minidl.functional.padding import pad_array, resolve_padding
from minidl.functional.pool import avg_pool, max_pool

HYPOTHESES = {}


def hypothesis(*families):
    def register(fn):
        for f in families:
            HYPOTHESES.setdefault(f, []).append(fn)
        return fn

    return register


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


# ------------------------------------------------------------------ classical estimators
def _estimator(case, family, **override):
    cls = REFERENCE[family][0]
    args = [case.inputs["X"]] + ([case.inputs["y"]] if "y" in case.inputs else [])
    est = cls(**dict(case.kwargs, **override)).fit(*args)
    return {k: np.asarray(getattr(est, k)) for k in ("coef_", "intercept_")}


def _alpha_scalings(case):
    n = case.inputs["X"].shape[0]
    a = case.kwargs["alpha"]
    yield f"alpha scaled by n = {n} (a 1/n-scaled data term)", a * n
    yield f"alpha scaled by 2n = {2 * n} (a 1/(2n)-scaled data term)", a * 2 * n
    yield f"alpha divided by n = {n} (data term not divided by n)", a / n
    yield f"alpha divided by 2n = {2 * n}", a / (2 * n)
    yield "alpha halved", a / 2
    yield "alpha doubled", a * 2


@hypothesis("ridge", "lasso")
def objective_scaling(family, case, run, got):
    objective = {
        "ridge": "||y - Xw||^2 + alpha ||w||^2",
        "lasso": "(1/2n) ||y - Xw||^2 + alpha ||w||_1",
    }[family.name]
    for detail, alpha in _alpha_scalings(case):
        pred = _estimator(case, family.name, alpha=alpha)
        yield f"objective scaled differently: {detail}; the convention is {objective}", pred, got
    fit = case.kwargs.get("fit_intercept", True)
    yield (
        f"fit_intercept={not fit} behaviour (asked {fit})",
        _estimator(case, family.name, fit_intercept=not fit),
        got,
    )


@hypothesis("pca")
def components_as_columns(family, case, run, got):
    c = got.get("components_")
    if c is not None and c.ndim == 2:
        yield (
            "stores components as columns (p, k); the convention is rows (k, p)",
            {"components_": case.outputs["components_"]},
            {"components_": c.T},
        )


# ------------------------------------------------------------------ compression
def _codes(case):
    bits, signed = case.kwargs.get("bits", 8), case.kwargs.get("signed", True)
    qmin, qmax = qrange(bits, signed)
    x, s, z = case.inputs["x"], case.kwargs["scale"], case.kwargs["zero_point"]
    v = x * (1.0 / s)
    return v, z, qmin, qmax


@hypothesis("quantize")
def quantize_conventions(family, case, run, got):
    v, z, lo, hi = _codes(case)
    yield (
        "rounds half away from zero; the convention (PyTorch, minidl) rounds half to even",
        {"q": np.clip(_round_half_away(v) + z, lo, hi)},
        got,
    )
    # x * (1/S) (PyTorch's way) and x / S differ in the last bit, which floor can see
    for ratio in (v, case.inputs["x"] / case.kwargs["scale"]):
        floor = np.clip(np.floor(ratio) + z, lo, hi)
        yield "rounds down (floor) instead of to nearest", {"q": floor}, got
    minus = np.clip(np.rint(v) - z, lo, hi)
    yield "subtracts the zero point instead of adding it", {"q": minus}, got
    x, s = case.inputs["x"], case.kwargs["scale"]
    unclamped = quantize_codes(x, s, z, np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    yield f"does not clamp the codes to [{lo}, {hi}]", {"q": unclamped}, got


@hypothesis("dequantize")
def dequantize_conventions(family, case, run, got):
    q = case.inputs["q"].astype(np.float64)
    s, z = case.kwargs["scale"], case.kwargs["zero_point"]
    yield "ignores the zero point (scale * q)", {"y": s * q}, got
    yield "adds the zero point (scale * (q + zero_point))", {"y": s * (q + z)}, got
    yield "divides by the scale instead of multiplying", {"y": (q - z) / s}, got


@hypothesis("magnitude_mask")
def mask_conventions(family, case, run, got):
    w, s = case.inputs["w"], case.kwargs["sparsity"]
    n = w.size
    yield "ranks by signed value, not magnitude |w|", {"mask": mask_from_scores(w, s)}, got
    yield (
        "removes the largest |w| instead of the smallest",
        {"mask": mask_from_scores(-np.abs(w), s)},
        got,
    )
    for rule, k in (("floor", int(np.floor(s * n))), ("ceil", int(np.ceil(s * n)))):
        if k != round(s * n) and k < n:
            yield (
                f"counts the pruned weights with {rule}(s n) instead of round(s n)",
                {"mask": mask_from_scores(np.abs(w), k / n)},
                got,
            )


# ------------------------------------------------------------------ the driver
def _agree(pred, got, rtol, atol):
    if got is None or np.shape(pred) != np.shape(got):
        return False
    got = np.asarray(got, dtype=np.float64)
    return bool(np.all(np.abs(got - pred) <= atol + rtol * np.abs(pred)))


def _factor(expected, actual):
    """c with actual = c * expected (least squares), if that fits to 1e-6 relative, else None."""
    e, a = np.ravel(expected).astype(np.float64), np.ravel(actual).astype(np.float64)
    if e.shape != a.shape or not np.any(e) or not np.all(np.isfinite(a)):
        return None
    c = float(e @ a / (e @ e))
    if np.max(np.abs(a - c * e)) <= 1e-6 * np.max(np.abs(a)) and not np.isclose(c, 1.0):
        return c
    return None


def diagnose(family, case, run, got, got_grads, failed, rtol, atol, error=None):
    """Messages explaining why ``case`` failed (see the module docstring); never raises.

    ``got``/``got_grads``: the candidate's outputs and gradients (None if it raised: ``error``);
    ``failed``: the names of the outputs (``'y'``) and gradients (``'grad x'``) that failed.
    """
    got = got or {}
    found = []
    for h in HYPOTHESES.get(family.name, []):
        try:
            for detail, pred, observed in h(family, case, run, got):
                keys = list(pred)
                if not keys or not all(_agree(pred[k], observed.get(k), rtol, atol) for k in keys):
                    continue
                if error is None and not any(k in failed for k in keys):
                    continue
                if detail not in found:
                    found.append(detail)
        except Exception:  # noqa: BLE001 - a hypothesis that cannot be evaluated explains nothing
            continue
    if found:
        return "; ".join(found) + (f" [{error[:80]}]" if error else "")
    if error is not None:
        hint = ""
        if family.name in CONV and isinstance(case.kwargs.get("padding"), str):
            hint = " (string padding: for a function that takes integer padding only, such as "
            hint += "PyTorch's with stride > 1, use the explicit_padding adapter)"
        return f"raised {error}{hint}"
    notes = []
    for name in failed:
        is_grad = name.startswith("grad ")
        expected = case.grads[name[5:]] if is_grad else case.outputs[name]
        actual = (got_grads or {}).get(name[5:]) if is_grad else got.get(name)
        if actual is None:
            notes.append(f"{name} missing")
        elif np.shape(actual) != np.shape(expected):
            continue  # the checker's row states both shapes
        elif not np.all(np.isfinite(np.asarray(actual, dtype=np.float64))):
            notes.append(f"{name} has NaN/inf (numerically unstable: overflow in exp?)")
        elif (c := _factor(expected, actual)) is not None:
            notes.append(f"{name} is {c:.6g} x the expected (a mean/sum or constant-factor slip)")
    forward_failed = [n for n in failed if not n.startswith("grad ")]
    if not forward_failed and failed:
        notes.insert(0, "forward matches; gradient wrong")
    return "; ".join(notes) if notes else "no known convention explains the difference"
