"""Hypotheses for batch norm: the variance, eps and momentum conventions, the running buffers,
training against evaluation mode (protocol in :mod:`minidl.conformance.diagnose`).

Two of them *find* the value the candidate used rather than trying a list: eps, from the slope
of its output against the centred input (y = w (x - m) / sqrt(v + eps) + b, so per channel the
slope is w / sqrt(v + eps)), and the momentum, from how far its running mean moved towards the
batch mean. The prediction is then minidl with that value, checked like any other."""

import numpy as np

from minidl.conformance.hypothesis import minidl_outputs, registrar

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _bn_stats(x, ddof):
    return x.mean(axis=_axes(x)), x.var(axis=_axes(x), ddof=ddof)


def _snap(v):
    """Two significant digits: 0.0099999 -> 0.01, 1.0000003e-06 -> 1e-06."""
    return float(f"{v:.2g}")


def _y_and_grads(pred):
    return {k: v for k, v in pred.items() if k == "y" or k.startswith("grad ")}


@hypothesis("batch_norm_train", "batch_norm_eval")
def eps_found(family, case, run, got):
    x, i, y = case.inputs["x"], case.inputs, got.get("y")
    if y is None or np.shape(y) != x.shape:
        return
    training = case.kwargs["training"]
    mean, var = _bn_stats(x, 0) if training else (i["running_mean"], i["running_var"])
    centred = x - _channel(mean, x)
    z = (np.asarray(y, dtype=np.float64) - _channel(i["bias"], x)) / _channel(i["weight"], x)
    slope = np.sum(z * centred, axis=_axes(x)) / np.sum(centred * centred, axis=_axes(x))
    eps = float(np.median(1 / slope**2 - var))
    asked = case.kwargs["eps"]
    eps = 0.0 if abs(eps) < 1e-12 * float(np.max(var)) else _snap(eps)
    if eps < 0 or np.isclose(eps, asked, rtol=1e-3, atol=0):
        return
    yield (
        f"uses eps = {eps:g}, not the eps = {asked:g} asked (hard-coded, or the argument not "
        "passed on?)",
        _y_and_grads(minidl_outputs(family, case, eps=eps)),
        got,
        "eps",
    )


@hypothesis("batch_norm_train")
def unbiased_variance(family, case, run, got):
    x = case.inputs["x"]
    mean, var1 = _bn_stats(x, ddof=1)
    # normalizing with fixed statistics is minidl's evaluation mode
    inputs = dict(case.inputs, running_mean=mean, running_var=var1)
    yield (
        "normalizes with the unbiased variance (ddof=1); the batch is normalized with the "
        "biased variance (ddof=0), only the running estimate is unbiased",
        {"y": minidl_outputs(family, case, inputs=inputs, training=False)["y"]},
        got,
    )


@hypothesis("batch_norm_train")
def running_estimates_in_training(family, case, run, got):
    pred = minidl_outputs(family, case, training=False)
    yield "normalizes with the running estimates in training mode", {"y": pred["y"]}, got


@hypothesis("batch_norm_train")
def per_feature_statistics(family, case, run, got):
    """x.reshape(N, -1): each (channel, position) normalized over the batch alone, the way a
    dense layer's batch norm is (deep-learning-from-scratch's BatchNormalization on images)."""
    x, i = case.inputs["x"], case.inputs
    if x.ndim < 3:
        return
    n, c, per = x.shape[0], x.shape[1], x[0, 0].size
    inputs = {
        "x": x.reshape(n, -1),
        "weight": np.repeat(i["weight"], per),
        "bias": np.repeat(i["bias"], per),
        "running_mean": np.zeros(c * per),
        "running_var": np.ones(c * per),
    }
    dy = None if case.dy is None else case.dy.reshape(n, -1)
    pred = minidl_outputs(family, case, inputs=inputs, dy=dy)
    out = {"y": pred["y"].reshape(x.shape)}
    if "grad x" in pred:
        out["grad x"] = pred["grad x"].reshape(x.shape)
        for name in ("weight", "bias"):  # one weight per channel: the positions' gradients sum
            out[f"grad {name}"] = pred[f"grad {name}"].reshape(c, per).sum(axis=1)
    yield (
        "normalizes each (channel, position) separately over the batch (x.reshape(N, -1), a "
        "dense layer's statistics); batch norm on (N, C, *spatial) normalizes each channel over "
        "(N, *spatial)",
        out,
        got,
    )


def _found_momentum(case, got):
    """The weight the candidate's running mean gave the batch mean, or None."""
    new = got.get("running_mean")
    x, rm = case.inputs["x"], case.inputs["running_mean"]
    if new is None or np.shape(new) != rm.shape:
        return None
    mean = x.mean(axis=_axes(x))
    moved = mean - rm
    ok = np.abs(moved) > 1e-3 * np.max(np.abs(moved))
    if not np.any(ok):
        return None
    return float(np.median((np.asarray(new, dtype=np.float64) - rm)[ok] / moved[ok]))


@hypothesis("batch_norm_train")
def running_update_conventions(family, case, run, got):
    x, i, m = case.inputs["x"], case.inputs, case.kwargs["momentum"]
    mean, var0 = _bn_stats(x, ddof=0)
    n = x.size // x.shape[1]
    rm, rv = i["running_mean"], i["running_var"]
    yield (
        "the running estimates came back unchanged: rebound to new arrays (running_mean = ...) "
        "instead of updated in place (running_mean[...] = ..., +=), or never updated",
        {"running_mean": rm, "running_var": rv},
        got,
        "buffers unchanged",
    )
    found = _found_momentum(case, got)
    weights = [m, 1 - m]
    if found is not None and found > 1e-3 and not np.isclose(found, weights, atol=1e-6).any():
        weights.append(_snap(found))
    for w in weights:
        for biased in (True, False):
            if w == m and not biased:
                continue  # the convention itself
            v = var0 if biased else var0 * n / (n - 1)
            pred = {"running_mean": (1 - w) * rm + w * mean, "running_var": (1 - w) * rv + w * v}
            yield _momentum_detail(w, m, biased), pred, got


def _momentum_detail(w, m, biased):
    unbiased = "PyTorch (and minidl) use the unbiased n/(n-1) v"
    if w == m:
        return f"updates the running variance with the biased batch variance; {unbiased}"
    if w == 1 - m:
        text = (
            "momentum is the weight of the OLD value (Keras' convention); here it weighs the new "
            "batch statistic: r <- (1 - m) r + m s"
        )
        return text + (f", and the running variance takes the biased batch variance; {unbiased}"
                       if biased else "")  # fmt: skip
    return (
        f"the running estimates give the batch statistic the weight {w:g}, not the momentum "
        f"{m:g} asked (hard-coded?)"
        + (f"; and the biased batch variance: {unbiased}" if biased else "")  # fmt: skip
    )


@hypothesis("batch_norm_eval")
def batch_statistics_in_eval(family, case, run, got):
    pred = minidl_outputs(family, case, training=True)
    yield "normalizes with the batch statistics in evaluation mode", {"y": pred["y"]}, got
    yield (
        "updates the running estimates in evaluation mode",
        {"running_mean": pred["running_mean"], "running_var": pred["running_var"]},
        got,
    )


@hypothesis("batch_norm_eval")
def eval_backward_uses_batch_statistics(family, case, run, got):
    pred = minidl_outputs(family, case, training=True)
    yield (
        "the evaluation-mode backward uses the batch statistics (the training formula); with "
        "the running estimates y is affine in x: dx = dy * weight / sqrt(running_var + eps)",
        {k: v for k, v in pred.items() if k.startswith("grad ")},
        got,
    )
