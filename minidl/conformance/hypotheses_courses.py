"""Hypotheses for masked dropout, layer and group norm, the activations, dense with flattening
and transposed convolution (protocol in :mod:`minidl.conformance.diagnose`).

Most are minidl called with the mistaken argument (another eps, num_groups, alpha, approximate,
output_padding...); the few lines that compute are the mistake itself (the unbiased variance,
eps outside the square root, GELU's sigmoid approximation), which minidl does not implement."""

import numpy as np

from minidl.conformance.hypotheses_network import transposed_dense_weight
from minidl.conformance.hypothesis import forward_only, minidl_outputs, registrar
from minidl.conformance.hypothesis import kwarg as _kwarg
from minidl.conformance.reference import REFERENCE

HYPOTHESES = {"dense_flatten": [transposed_dense_weight]}
hypothesis = registrar(HYPOTHESES)
CONVT = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
EPS_TRIED = (0.0, 1e-12, 1e-10, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)


def _y(got):
    y = got.get("y")
    return None if y is None else np.asarray(y, dtype=np.float64)


# ------------------------------------------------------------------ dropout with a given mask
@hypothesis("dropout_masked")
def dropout_scaling(family, case, run, got):
    x, mask, p = case.inputs["x"], case.inputs["mask"], case.kwargs["p"]
    for detail, m, scale in [
        (
            "does not rescale the kept values: y = x * mask, the original (non-inverted) dropout; "
            "inverted dropout divides by 1 - p in training and is the identity in evaluation",
            mask,
            1.0,
        ),
        (
            "divides by p, not 1 - p: reads p as the keep probability (CS231n's convention); "
            "p is the probability of dropping",
            mask,
            1 / p if p else np.inf,
        ),
        ("keeps where the mask is 0: the mask is the keep mask (1 = keep)", 1 - mask, 1 / (1 - p)),
    ]:
        pred = {"y": x * m * scale}
        if case.dy is not None:
            pred["grad x"] = case.dy * m * scale
        yield detail, pred, got


# ------------------------------------------------------------------ layer norm, group norm
def _rows(family, case):
    """The input as (R, M) rows of one normalization and a function undoing the reshape."""
    x = case.inputs["x"]
    if family.name == "layer_norm":
        k = len(_kwarg(case, "normalized_shape"))
        return x.reshape(int(np.prod(x.shape[: x.ndim - k])), -1), x.shape
    g = _kwarg(case, "num_groups")
    return x.reshape(x.shape[0] * g, -1), x.shape


def _affine(family, case, x_hat):
    """x_hat * weight + bias, the affine parameters broadcast as the family lays them out
    (layer norm: over the normalized axes; group norm: per channel, axis 1)."""
    w, b = case.inputs.get("weight"), case.inputs.get("bias")
    if w is None and b is None:
        return x_hat
    ref = w if w is not None else b
    shape = ref.shape if family.name == "layer_norm" else (1, -1) + (1,) * (x_hat.ndim - 2)
    y = x_hat if w is None else x_hat * w.reshape(shape)
    return y if b is None else y + b.reshape(shape)


@hypothesis("layer_norm", "group_norm")
def norm_eps_found(family, case, run, got):
    """The eps among common values whose output is nearest the candidate's."""
    y, asked = _y(got), case.kwargs.get("eps", 1e-5)
    if y is None or y.shape != case.inputs["x"].shape:
        return
    preds = [(e, minidl_outputs(family, case, eps=e)) for e in EPS_TRIED if e != asked]
    eps, pred = min(preds, key=lambda ep: float(np.max(np.abs(ep[1]["y"] - y))))
    yield (
        f"uses eps = {eps:g}, not the eps = {asked:g} asked (hard-coded, or the argument not "
        "passed on?)",
        pred,
        got,
        "eps",
    )


@hypothesis("layer_norm", "group_norm")
def norm_formula_slips(family, case, run, got):
    rows, shape = _rows(family, case)
    eps = case.kwargs.get("eps", 1e-5)
    centred = rows - rows.mean(axis=1, keepdims=True)
    for detail, x_hat in [
        (
            "normalizes with the unbiased variance (ddof=1); the normalization uses the biased "
            "one (divide by M)",
            centred / np.sqrt(rows.var(axis=1, ddof=1, keepdims=True) + eps),
        ),
        (
            "adds eps outside the square root, (x - mean) / (std + eps); it belongs inside, "
            "/ sqrt(var + eps)",
            centred / (rows.std(axis=1, keepdims=True) + eps),
        ),
    ]:
        yield detail, {"y": _affine(family, case, x_hat.reshape(shape))}, got


@hypothesis("layer_norm")
def layer_norm_axes(family, case, run, got):
    x, ns = case.inputs["x"], _kwarg(case, "normalized_shape")
    eps = case.kwargs.get("eps", 1e-5)
    if len(ns) > 1:
        x_hat = REFERENCE["layer_norm"][0](x, ns[-1:], None, None, eps)[0]
        yield (
            "normalizes over the last axis only; normalized_shape "
            f"{tuple(ns)} asks for the last {len(ns)} axes together",
            {"y": _affine(family, case, x_hat)},
            got,
        )
    if x.ndim == 2 and x.shape[0] > 1:  # batch norm's statistics: over the batch
        mean, var = x.mean(axis=0), x.var(axis=0)
        yield (
            "normalizes each feature over the batch (batch norm's statistics); layer norm "
            "normalizes each sample over its own features",
            {"y": _affine(family, case, (x - mean) / np.sqrt(var + eps))},
            got,
        )


@hypothesis("group_norm")
def group_norm_grouping(family, case, run, got):
    c, g = case.inputs["x"].shape[1], _kwarg(case, "num_groups")
    if g not in (1, c):
        # groups of strided channels: reshape (N, C/G, G, ...) where (N, G, C/G, ...) is meant
        perm = np.array([ch for r in range(g) for ch in range(r, c, g)])
        yield (
            f"groups channels c with the same c mod {g} (a reshape to (N, C/G, G, ...)); "
            f"group k holds the consecutive channels k C/G .. (k + 1) C/G - 1",
            _permuted(family, case, perm),
            got,
        )
    for groups, detail in [
        (c, "normalizes each channel alone (instance norm): num_groups ignored"),
        (1, "normalizes each sample as a whole (one group): num_groups ignored"),
        (c // g, f"reads num_groups as the channels per group: {c // g} groups, not {g}"),
    ]:
        if groups != g:
            yield detail, minidl_outputs(family, case, num_groups=groups), got, detail


def _permuted(family, case, perm):
    inputs = {k: (v[:, perm] if k == "x" else v[perm]) for k, v in case.inputs.items()}
    dy = None if case.dy is None else case.dy[:, perm]
    pred = minidl_outputs(family, case, inputs=inputs, dy=dy)
    back = np.argsort(perm)
    return {k: (v[:, back] if v.ndim > 1 else v[back]) for k, v in pred.items()}


# ------------------------------------------------------------------ activations
@hypothesis("leaky_relu", "elu", "softplus", "gelu")
def argument_ignored(family, case, run, got):
    defaults = {
        "leaky_relu": {"negative_slope": 0.01},
        "elu": {"alpha": 1.0},
        "softplus": {"beta": 1.0},  # a threshold ignored: below
        "gelu": {"approximate": "none"},
    }[family.name]
    for name, default in defaults.items():
        asked = case.kwargs.get(name, default)
        if asked != default:
            yield (
                f"ignores {name} (acts as {name}={default!r}, the default)",
                minidl_outputs(family, case, **{name: default}),
                got,
            )
    if family.name == "gelu" and case.kwargs.get("approximate") == "none":
        yield (
            "uses PyTorch's tanh approximation where approximate='none' asks for the exact "
            "x Phi(x) = x (1 + erf(x / sqrt 2)) / 2",
            minidl_outputs(family, case, approximate="tanh"),
            got,
        )
    if family.name == "softplus":
        yield (
            "ignores the threshold: log(1 + e^(beta x)) / beta everywhere; PyTorch returns x "
            "where beta x > threshold",
            minidl_outputs(family, case, threshold=1e300),
            got,
        )


@hypothesis("gelu")
def gelu_sigmoid_form(family, case, run, got):
    x = case.inputs["x"]
    s = 1 / (1 + np.exp(-1.702 * x))
    pred = {"y": x * s}
    if case.dy is not None:
        pred["grad x"] = case.dy * (s + 1.702 * x * s * (1 - s))
    yield "uses the sigmoid approximation x sigmoid(1.702 x); GELU is x Phi(x)", pred, got


@hypothesis("leaky_relu", "elu")
def activation_slips(family, case, run, got):
    x, dy = case.inputs["x"], case.dy
    a = case.kwargs.get("negative_slope" if family.name == "leaky_relu" else "alpha")
    if family.name == "leaky_relu":
        yield (
            "scales the positive side (branches swapped): y = a x for x > 0",
            {"y": np.where(x > 0, a * x, x)},
            got,
        )
        if dy is not None:
            yield (
                "backward uses ReLU's derivative (0 for x <= 0), not the slope a",
                {"grad x": dy * (x > 0)},
                got,
            )
        return
    yield (
        "computes alpha e^x for x <= 0, without the - 1",
        {"y": np.where(x > 0, x, a * np.exp(np.minimum(x, 0)))},
        got,
    )
    if dy is not None:
        yield (
            "backward uses alpha for x <= 0 (the slope at 0), not alpha e^x",
            {"grad x": dy * np.where(x > 0, 1, a)},
            got,
        )


@hypothesis("softplus")
def softplus_threshold_on_x(family, case, run, got):
    x, beta = case.inputs["x"], case.kwargs.get("beta", 1.0)
    t = case.kwargs.get("threshold", 20.0)
    if beta != 1:
        smooth = minidl_outputs(family, case, threshold=1e300)["y"]
        yield "compares x, not beta x, with the threshold", {"y": np.where(x > t, x, smooth)}, got


# ------------------------------------------------------------------ dense with flattening
@hypothesis("dense_flatten")
def flatten_order(family, case, run, got):
    x = case.inputs["x"]
    if x.ndim >= 3:  # Keras flattens (N, H, W, C)
        pred = minidl_outputs(family, case, inputs=dict(case.inputs, x=np.moveaxis(x, 1, -1)))
        if "grad x" in pred:
            pred["grad x"] = np.moveaxis(pred["grad x"], -1, 1)
        yield (
            "flattens channels-last (x.transpose(0, 2, 3, 1).reshape(N, -1)); the weight's "
            "columns follow x.reshape(N, -1) of the (N, C, ...) array",
            pred,
            got,
        )
    g = case.grads.get("x") if case.grads else None
    if g is not None and g.ndim > 2:
        yield (
            "backward returns dx flattened, (N, d1 d2 ...); reshape it to x's shape",
            {"grad x": g.reshape(g.shape[0], -1)},
            got,
        )


# ------------------------------------------------------------------ transposed convolution
@hypothesis(*CONVT)
def conv_transpose_conventions(family, case, run, got):
    w = case.inputs["weight"]
    spatial = tuple(range(2, w.ndim))
    pred = minidl_outputs(family, case, inputs=dict(case.inputs, weight=np.flip(w, spatial)))
    if "grad weight" in pred:
        pred["grad weight"] = np.flip(pred["grad weight"], spatial)
    yield "kernel flipped (the scatter uses w[..., k - 1 - p])", pred, got
    for name, neutral in (("output_padding", 0), ("padding", 0), ("dilation", 1), ("stride", 1)):
        if np.any(np.asarray(case.kwargs.get(name, neutral)) != neutral):
            yield (
                f"ignores {name} (acts as {neutral})",
                minidl_outputs(family, case, **{name: neutral}),
                got,
                f"ignores {name}",
            )


@hypothesis(*CONVT)
def conv_transpose_weight_layout(family, case, run, got):
    w = case.inputs["weight"]
    if case.kwargs.get("groups", 1) != 1:
        return
    try:
        out = forward_only(run, dict(case.inputs, weight=w.swapaxes(0, 1).copy()), case.kwargs)
    except Exception:  # noqa: BLE001 - the candidate refuses the other layout: no evidence
        return
    yield (
        "takes weight as (C_out, C_in, *k), the convolution's layout; PyTorch's transposed "
        "convolution weight is (C_in, C_out/groups, *k)",
        {"y": case.outputs["y"]},
        out,
    )
