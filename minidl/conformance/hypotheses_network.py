"""Hypotheses for dense layers, softmax and the losses (protocol in
:mod:`minidl.conformance.diagnose`; convolution and pooling are in
:mod:`~minidl.conformance.hypotheses_conv`, batch norm in
:mod:`~minidl.conformance.hypotheses_norm`).

The few lines here that compute rather than call minidl are the mistake itself (a log of
``p + 1e-7``, a softmax Jacobian cut to its diagonal), which minidl does not implement."""

import numpy as np

from minidl.conformance.hypothesis import forward_only, minidl_outputs, registrar
from minidl.conformance.reference import REFERENCE

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)


# ------------------------------------------------------------------ dense
@hypothesis("dense")
def transposed_dense_weight(family, case, run, got):
    inputs = dict(case.inputs, weight=case.inputs["weight"].T.copy())
    try:
        out = forward_only(run, inputs, case.kwargs)
    except Exception:  # noqa: BLE001
        return
    yield (
        "takes weight as (in_features, out_features), y = x @ W + b; the convention is "
        "PyTorch's (out_features, in_features), y = x @ W.T + b",
        {"y": case.outputs["y"]},
        out,
    )


# ------------------------------------------------------------------ softmax
@hypothesis("softmax", "log_softmax")
def softmax_axis(family, case, run, got):
    x, axis = case.inputs["x"], case.kwargs["axis"] % case.inputs["x"].ndim
    for a in range(x.ndim):
        if a != axis:
            pred = minidl_outputs(family, case, axis=a)
            yield f"normalizes over axis {a} instead of axis {axis}", pred, got, "axis"


@hypothesis("softmax", "log_softmax")
def diagonal_jacobian(family, case, run, got):
    if case.dy is None:
        return
    if family.name == "softmax":
        p = case.outputs["y"]
        grad, formula, right = case.dy * p * (1 - p), "dy p (1 - p)", "p (dy - sum(dy p))"
    else:
        p = np.exp(case.outputs["y"])
        grad, formula, right = case.dy * (1 - p), "dy (1 - p)", "dy - p sum(dy)"
    yield (
        f"backward uses only the diagonal of the Jacobian ({formula}); every output depends on "
        f"every input of its slice: dx = {right}",
        {"grad x": grad},
        got,
    )


# ------------------------------------------------------------------ losses
def _probabilities(case):
    return np.exp(REFERENCE["log_softmax"][0](case.inputs["logits"], 1)[0])


def _picked(case, p):
    target = case.inputs["target"]
    return p[np.arange(len(target)), target]


@hypothesis("cross_entropy")
def smoothing_ignored(family, case, run, got):
    if case.kwargs.get("label_smoothing"):
        pred = minidl_outputs(family, case, label_smoothing=0.0)
        yield "ignores label_smoothing", pred, got


@hypothesis("cross_entropy")
def log_of_probabilities(family, case, run, got):
    if case.kwargs.get("label_smoothing"):
        return
    p = _picked(case, _probabilities(case))
    with np.errstate(divide="ignore"):
        underflow = -np.mean(np.log(p))
    if not np.isfinite(underflow):
        yield (
            "takes the log of softmax probabilities: p underflows to 0 for a large logit gap "
            "and log(0) = -inf; use log-softmax, x - logsumexp(x)",
            {"y": np.asarray(underflow)},
            got,
        )
    for delta in (1e-7, 1e-8, 1e-10, 1e-12, 1e-15):
        yield (
            f"computes log(p + {delta:g}) (the guard against log(0)): finite but wrong wherever "
            "p is small (large logits); use log-softmax, x - logsumexp(x)",
            {"y": np.asarray(-np.mean(np.log(p + delta)))},
            got,
        )
        yield (
            f"computes log(clip(p, {delta:g}, 1 - {delta:g})): finite but wrong wherever p is "
            "small (large logits); use log-softmax, x - logsumexp(x)",
            {"y": np.asarray(-np.mean(np.log(np.clip(p, delta, 1 - delta))))},
            got,
        )


@hypothesis("cross_entropy", "mse")
def loss_reduction(family, case, run, got):
    first = case.inputs[family.args[0]]
    expected = minidl_outputs(family, case)
    factors = [(len(first), "sums over the batch instead of averaging (N = {n:g} x the mean)")]
    if family.name == "mse":
        factors = [
            (first.size, "sums the squared errors instead of averaging ({n:g} x the mean)"),
            (0.5, "halves the mean squared error (1/2 mean, the textbook's convenience)"),
        ]
        if first.ndim > 1:
            per_sample = first.size / first.shape[0]
            factors.append((per_sample, "averages over the batch only ({n:g} x the mean)"))
    for factor, detail in factors:
        if factor != 1:
            yield detail.format(n=factor), {k: factor * v for k, v in expected.items()}, got
