"""Hypotheses for the compression families: quantize (per tensor and per channel),
choose_qparams, dequantize, magnitude masks (per tensor and global). Protocol in
:mod:`minidl.conformance.diagnose`: each hypothesis models one mistake with minidl's own
functions (a per-tensor scale, the zero point added before rounding, a per-layer threshold...)
or, where minidl has no such option, with the few lines that are the mistake itself."""

import numpy as np

from minidl.compression.pruning import (
    global_masks_from_scores,
    magnitude_mask,
    mask_from_scores,
    n_to_prune,
)
from minidl.compression.quantization import (
    FLOAT32_EPS,
    _round_half_away,
    choose_qparams,
    qrange,
    quantize,
    quantize_codes,
)
from minidl.conformance.hypothesis import registrar

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)


# ------------------------------------------------------------------ quantization
def _qargs(case):
    """``x``, the scale and zero point (arrays along ``axis`` for per-channel cases), the axis
    and the code-range keywords of a quantize case."""
    x, axis = case.inputs["x"], case.kwargs.get("axis")
    s = case.inputs.get("scale", case.kwargs.get("scale"))
    z = case.inputs.get("zero_point", case.kwargs.get("zero_point"))
    kw = {k: case.kwargs[k] for k in ("bits", "signed", "narrow_range") if k in case.kwargs}
    return x, s, z, axis, kw


def _codes(case):
    x, s, z, axis, kw = _qargs(case)
    qmin, qmax = qrange(**kw)
    s, z = np.asarray(s, dtype=np.float64), np.asarray(z)
    if axis is not None:  # (C,) -> broadcastable along axis
        shape = [-1 if d == axis else 1 for d in range(x.ndim)]
        s, z = s.reshape(shape), z.reshape(shape)
    return x, s, x * (1.0 / s), z, qmin, qmax


@hypothesis("quantize", "quantize_per_channel")
def quantize_conventions(family, case, run, got):
    x, s, v, z, lo, hi = _codes(case)
    yield (
        "rounds half away from zero; the convention (PyTorch, minidl) rounds half to even",
        {"q": np.clip(_round_half_away(v) + z, lo, hi)},
        got,
    )
    # x * (1/S) (PyTorch's way) and x / S differ in the last bit, which floor can see
    for ratio in (v, x / s):
        floor = np.clip(np.floor(ratio) + z, lo, hi)
        yield "rounds down (floor) instead of to nearest", {"q": floor}, got
    minus = np.clip(np.rint(v) - z, lo, hi)
    yield "subtracts the zero point instead of adding it", {"q": minus}, got
    x, s, z, axis, _ = _qargs(case)
    unclamped = quantize_codes(x, s, z, np.iinfo(np.int64).min, np.iinfo(np.int64).max, axis)
    yield f"does not clamp the codes to [{lo}, {hi}]", {"q": unclamped}, got


@hypothesis("quantize_per_channel")
def per_channel_conventions(family, case, run, got):
    x, s, z, axis, kw = _qargs(case)
    for which, c in (("channel 0's", 0), ("the largest", int(np.argmax(s)))):
        yield (
            f"uses one scale and zero point for the whole tensor ({which}, S = {s[c]:.4g}): "
            f"per-tensor quantization; the convention is one per channel along axis={axis}",
            {"q": quantize(x, s[c], z[c], **kw)},
            got,
        )
    for other in range(x.ndim):
        if other != axis and x.shape[other] == s.size:
            why = " (NumPy broadcasts a (C,) array along the last axis)" * (other == x.ndim - 1)
            yield (
                f"applies the per-channel scales along axis {other} instead of axis={axis}{why}",
                {"q": quantize(x, s, z, axis=other, **kw)},
                got,
            )
    yield (
        "adds the zero point before rounding, round(x/S + Z) (torch.quantize_per_channel's "
        "kernel); the convention is round(x/S) + Z, (2.13) and "
        "torch.fake_quantize_per_channel_affine: they differ on exact ties when Z is odd",
        {"q": quantize(x, s, z, axis=axis, zero_point_before_rounding=True, **kw)},
        got,
    )
    bits, signed = kw.get("bits", 8), kw.get("signed", True)
    if kw.get("narrow_range"):
        lo, hi = qrange(bits, signed)
        yield (
            f"ignores narrow_range=True: clamps to [{lo}, {hi}] instead of [{lo + 1}, {hi}]",
            {"q": quantize(x, s, z, axis=axis, bits=bits, signed=signed)},
            got,
        )
    if bits != 8:
        yield (
            f"ignores bits={bits}: clamps to the 8-bit range {qrange(8, signed)}",
            {"q": quantize(x, s, z, axis=axis, signed=signed)},
            got,
        )


@hypothesis("choose_qparams")
def qparams_conventions(family, case, run, got):
    kw = dict(case.kwargs)
    bits, symmetric, signed = kw["bits"], kw["symmetric"], kw["signed"]
    qmin, qmax = qrange(bits, signed, kw["narrow_range"])
    lo, hi = case.inputs["x_min"], case.inputs["x_max"]
    m, M = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    scale, zp = case.outputs["scale"], case.outputs["zero_point"]
    eps = np.float32(FLOAT32_EPS)
    if symmetric:
        half, narrow = (qmax - qmin) / 2, (qmax - qmin - 1) / 2
        if not kw["narrow_range"]:
            yield (
                f"divides max|x| by {narrow:g} (TensorFlow's narrow range, {narrow:g} codes on "
                f"each side of Z) instead of (qmax - qmin) / 2 = {half:g} (PyTorch's)",
                {"scale": choose_qparams(lo, hi, **dict(kw, narrow_range=True))[0]},
                got,
            )
        yield (
            f"divides max|x| by qmax - qmin = {qmax - qmin} instead of (qmax - qmin) / 2 = "
            f"{half:g}: the symmetric range [-max|x|, max|x|] spans all the codes",
            {"scale": np.maximum(np.maximum(-m, M) / (qmax - qmin), eps)},
            got,
        )
        if not signed:
            yield (
                f"gives the unsigned symmetric zero point 0; the convention is "
                f"2^(b-1) = {2 ** (bits - 1)} (PyTorch's 128 for quint8)",
                {"zero_point": np.zeros_like(zp)},
                got,
            )
    else:
        # a candidate may compute in float32 (PyTorch) or float64: model both
        for ratio in (m.astype(np.float32) / scale, m / scale.astype(np.float64)):
            yield (
                "zero point not rounded to an integer (qmin - m/S); the convention is "
                "qmin - round(m/S), so that the real 0 is exactly a code",
                {"scale": scale, "zero_point": qmin - ratio.astype(np.float64)},
                got,
            )
        yield (
            "rounds the zero point half away from zero; the convention (PyTorch) rounds half "
            "to even",
            {"zero_point": np.clip(qmin - _round_half_away(m / scale), qmin, qmax)},
            got,
        )
        yield (
            f"divides the range by 2^b = {2**bits} instead of qmax - qmin = {qmax - qmin}",
            {"scale": np.maximum((M - m) / 2**bits, eps)},
            got,
        )
        if np.any(lo > 0) or np.any(hi < 0):
            s0 = np.maximum((hi - lo) / (qmax - qmin), eps)
            yield (
                "does not widen the range to contain 0 (uses x_min > 0 or x_max < 0 as is); "
                "the convention takes min(x_min, 0), max(x_max, 0) so the real 0 is a code",
                {"scale": s0, "zero_point": np.clip(qmin - np.rint(lo / s0), qmin, qmax)},
                got,
            )
    if np.any(M - m == 0):
        raw = (np.maximum(-m, M) / ((qmax - qmin) / 2)) if symmetric else (M - m) / (qmax - qmin)
        yield (
            "no eps floor: an all-zero range gives scale 0 (and the zero point divides by 0); "
            f"the convention is max(scale, float32 eps = {FLOAT32_EPS:.4g}), PyTorch's",
            {"scale": raw},
            got,
        )


@hypothesis("dequantize")
def dequantize_conventions(family, case, run, got):
    q = case.inputs["q"].astype(np.float64)
    s, z = case.kwargs["scale"], case.kwargs["zero_point"]
    yield "ignores the zero point (scale * q)", {"y": s * q}, got
    yield "adds the zero point (scale * (q + zero_point))", {"y": s * (q + z)}, got
    yield "divides by the scale instead of multiplying", {"y": (q - z) / s}, got


# ------------------------------------------------------------------ pruning masks
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


def _split(flat, like):
    """A flat mask cut back into ``masks.0``, ``masks.1``, ... of the shapes in ``like``."""
    out, start = {}, 0
    for i, w in enumerate(like):
        out[f"masks.{i}"] = flat[start : start + w.size].reshape(w.shape).astype(w.dtype)
        start += w.size
    return out


@hypothesis("global_magnitude_masks")
def global_mask_conventions(family, case, run, got):
    ws = [case.inputs[f"weights.{i}"] for i in range(len(case.inputs))]
    s = case.kwargs["sparsity"]
    yield (
        "prunes each tensor to the sparsity separately (a per-layer threshold); the convention "
        "is one ranking of |w| over all tensors (global_unstructured)",
        {f"masks.{i}": magnitude_mask(w, s) for i, w in enumerate(ws)},
        got,
    )
    for detail, score in (
        ("ranks by signed value, not magnitude |w|", lambda w: w),
        ("removes the largest |w| instead of the smallest", lambda w: -np.abs(w)),
    ):
        masks = global_masks_from_scores({i: score(w) for i, w in enumerate(ws)}, s)
        yield detail, {f"masks.{i}": m for i, m in masks.items()}, got
    a = np.concatenate([np.abs(w).ravel() for w in ws])
    k, order = n_to_prune(a.size, s), np.sort(a)
    if 0 < k < a.size:
        t = order[k - 1]
        yield (
            f"prunes only |w| < t, t = {t:.4g} the k-th smallest (k = round(s N) = {k}): one "
            "too few, and none of the weights tied at t; the convention removes the k smallest",
            _split((a >= t).astype(np.float64), ws),
            got,
        )
        yield (
            f"prunes |w| <= sort(|w|)[k] = {order[k]:.4g} (one place too far, with its ties); "
            f"the convention removes the k = {k} smallest",
            _split((a > order[k]).astype(np.float64), ws),
            got,
        )
    rules = [("floor(s N)", int(np.floor(s * a.size))), ("ceil(s N)", int(np.ceil(s * a.size)))]
    if s * a.size % 1 == 0.5:
        rules.append((f"s N = {s * a.size:g} rounded half up, int(s N + 0.5)", rules[1][1]))
    for rule, k2 in rules:
        if k2 != k and k2 < a.size:
            masks = global_masks_from_scores({i: np.abs(w) for i, w in enumerate(ws)}, k2 / a.size)
            yield (
                f"counts the pruned weights with {rule} = {k2} instead of round(s N) = {k} "
                "(half to even, as PyTorch)",
                {f"masks.{i}": m for i, m in masks.items()},
                got,
            )
