"""Hypotheses for the losses courses teach and the optimizer steps (protocol in
:mod:`minidl.conformance.diagnose`).

Losses: the guards against log(0) (``log(p + 1e-7)``, ``clip``), the reductions (CS231n's hinge
loss is C times PyTorch's; ``-mean(t * log p)`` divides by N K), and the backward of the fused
softmax/sigmoid loss given where the probabilities' gradient is asked. Steps: the velocity form
of momentum, the bias correction, where eps goes, the step count, the weight decay. The few
lines that compute are the mistakes themselves."""

import numpy as np

from minidl.conformance.hypothesis import minidl_outputs, registrar
from minidl.conformance.reference import REFERENCE

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)
DELTAS = (1e-7, 1e-8, 1e-10, 1e-12, 1e-15)
LOG_FIX = "use the log-sum-exp form, or PyTorch's clamp of each log at -100"


# ------------------------------------------------------------------ guards against log(0)
def _probabilities(family, case):
    """(p, target, is_binary) the loss takes the log of."""
    i = case.inputs
    if family.name == "binary_cross_entropy":
        return i["input"], i["target"], True
    if family.name == "binary_cross_entropy_with_logits":
        return 1 / (1 + np.exp(-i["input"])), i["target"], True
    if family.name == "cross_entropy_probs":
        p, t = i["p"], i["target"]
        return p, np.eye(p.shape[1])[t], False
    return np.exp(REFERENCE["log_softmax"][0](i["logits"], 1)[0]), i["target"], False


def _guarded_loss(p, t, binary, guard):
    if binary:
        return -np.mean(t * np.log(guard(p)) + (1 - t) * np.log(guard(1 - p)))
    return -np.sum(t * np.log(guard(p))) / p.shape[0]


@hypothesis(
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy_probs",
    "cross_entropy_onehot",
)
def log_guards(family, case, run, got):
    p, t, binary = _probabilities(family, case)
    grad_name = f"grad {family.grad_wrt[0]}"
    for delta in DELTAS:
        for text, guard in [
            (f"log(p + {delta:g})", lambda q, d=delta: q + d),
            (f"log(clip(p, {delta:g}, 1 - {delta:g}))", lambda q, d=delta: np.clip(q, d, 1 - d)),
        ]:
            pred = {"y": np.asarray(_guarded_loss(p, t, binary, guard))}
            direct = family.name in ("binary_cross_entropy", "cross_entropy_probs")
            if direct and case.dy is not None and text.startswith("log(p"):
                n = p.size if binary else p.shape[0]  # the guarded loss's own gradient
                slope = t / (p + delta) - ((1 - t) / (1 - p + delta) if binary else 0)
                pred[grad_name] = -case.dy * slope / n
            yield (
                f"computes {text} (a guard against log(0)): finite but wrong wherever p is "
                f"small or near 1; {LOG_FIX}",
                pred,
                got,
                f"guard {text}",
            )


@hypothesis("binary_cross_entropy", "cross_entropy_probs")
def logits_gradient(family, case, run, got):
    if case.dy is None:
        return
    p, t, binary = _probabilities(family, case)
    n = p.size if binary else p.shape[0]
    name = "sigmoid" if binary else "softmax"
    yield (
        f"backward returns (p - t) / N, the gradient with respect to the logits of the fused "
        f"{name} + loss; with probabilities as input it is -t / p (+ (1 - t) / (1 - p)), "
        "divided by N",
        {f"grad {family.grad_wrt[0]}": case.dy * (p - t) / n},
        got,
    )


# ------------------------------------------------------------------ reductions and margins
def _factors(family, case):
    first = case.inputs[family.args[0]]
    n = first.shape[0]
    if family.name == "multi_margin_loss":
        c = first.shape[1]
        return [
            (
                c,
                f"sums the hinges over the classes: {c:g} (= C) x PyTorch's, which divides "
                "by C (CS231n's SVM loss is this sum)",
            ),
            (n, f"sums over the batch instead of averaging ({n:g} = N x the mean)"),
            (n * c, f"sums over the batch and the classes ({n * c:g} = N C x the mean)"),
        ]
    factors = [(n, f"sums over the batch instead of averaging ({n:g} = N x the mean)")]
    if family.name in ("cross_entropy_onehot", "cross_entropy_probs"):
        k = first.shape[1]
        factors.append(
            (
                1 / k,
                f"averages over every element, -mean(t * log p): 1/{k} (= 1/K) "
                "x the loss, which divides by N only",
            )
        )
    elif first.ndim >= 1 and family.name.startswith("binary"):
        factors = [(first.size, f"sums instead of averaging ({first.size:g} x the mean)")]
        if first.ndim > 1:
            per = first.size / n
            factors.append((per, f"averages over the batch only ({per:g} x the mean)"))
    return factors


@hypothesis(
    "multi_margin_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy_probs",
    "cross_entropy_onehot",
)
def loss_factors(family, case, run, got):
    expected = minidl_outputs(family, case)
    for factor, detail in _factors(family, case):
        if factor != 1:
            yield detail, {k: factor * v for k, v in expected.items()}, got
            grads = {k: factor * v for k, v in expected.items() if k.startswith("grad ")}
            yield f"backward only: {detail}", grads, got, f"backward {detail}"


@hypothesis("multi_margin_loss")
def margin_slips(family, case, run, got):
    margin, c = case.kwargs.get("margin", 1.0), case.inputs["x"].shape[1]
    if margin != 1.0:
        yield "ignores margin (acts as 1)", minidl_outputs(family, case, margin=1.0), got
    expected = minidl_outputs(family, case)
    yield (
        f"counts the j = y_i term too (adds margin = {margin:g} per sample, / C); the sum "
        "runs over j != y_i",
        {"y": expected["y"] + margin / c},
        got,
    )


# ------------------------------------------------------------------ optimizer steps
@hypothesis("sgd_step")
def sgd_conventions(family, case, run, got):
    kw, i = case.kwargs, case.inputs
    mu, lr, wd = kw.get("momentum", 0.0), kw["lr"], kw.get("weight_decay", 0.0)
    g = i["grad"] + wd * i["param"]
    v_old = i.get("momentum_buffer", np.zeros_like(g))
    v = mu * v_old - lr * g  # the velocity form
    # Nesterov in that form (CS231n): x += -mu v_old + (1 + mu) v
    step = (1 + mu) * v - mu * v_old if kw.get("nesterov", False) else v
    yield (
        "keeps a velocity v = mu v - lr g and adds it (CS231n, Sutskever et al.; with "
        "Nesterov x += (1 + mu) v - mu v_old); PyTorch keeps b = mu b + g and subtracts lr b "
        "(lr (g + mu b) with Nesterov): the same steps for a constant lr, a buffer -lr times "
        "as large",
        {"param": i["param"] + step, "momentum_buffer": v},
        got,
    )
    for name, neutral in (("weight_decay", 0.0), ("dampening", 0.0), ("nesterov", False)):
        if kw.get(name, neutral) != neutral:
            yield f"ignores {name}", minidl_outputs(family, case, **{name: neutral}), got
    if "momentum_buffer" not in i and kw.get("dampening", 0.0):
        zeros = dict(i, momentum_buffer=np.zeros_like(g))
        yield (
            "starts from a zero buffer, b = (1 - dampening) g on the first step; PyTorch "
            "sets b = g",
            minidl_outputs(family, case, inputs=zeros),
            got,
        )


def _decay(case, decoupled):
    """The weight decay asked (PyTorch's defaults: 0 for Adam, 0.01 for AdamW)."""
    return case.kwargs.get("weight_decay", 0.01 if decoupled else 0.0)


def _adam_variant(case, decoupled, variant, t=None, eps=None):
    """Adam's step with one mistake (``variant``; ``'correct'``: none) at step ``t``, with
    the ``eps`` given (default: the case's)."""
    kw, i = case.kwargs, case.inputs
    lr, (b1, b2) = kw["lr"], kw.get("betas", (0.9, 0.999))
    eps = kw.get("eps", 1e-8) if eps is None else eps
    wd = _decay(case, decoupled)
    t = kw["step"] if t is None else t
    p, g = i["param"], i["grad"]
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    m = b1 * i.get("exp_avg", 0.0) + (1 - b1) * g
    v = b2 * i.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    step = {
        "correct": lr * (m / bc1) / (np.sqrt(v / bc2) + eps),
        "no_correction": lr * m / (np.sqrt(v) + eps),
        "eps_inside": lr * (m / bc1) / np.sqrt(v / bc2 + eps),
        "eps_before": lr * (m / bc1) / ((np.sqrt(v) + eps) / np.sqrt(bc2)),
    }[variant]
    return {"param": p - step, "exp_avg": m, "exp_avg_sq": v}


@hypothesis("adam_step", "adamw_step")
def adam_conventions(family, case, run, got):
    decoupled = family.name == "adamw_step"
    for variant, detail in [
        (
            "no_correction",
            "no bias correction: lr m / (sqrt(v) + eps); Adam divides m by "
            "1 - beta1^t and v by 1 - beta2^t",
        ),
        (
            "eps_inside",
            "adds eps inside the square root, sqrt(v_hat + eps); PyTorch adds it "
            "outside, sqrt(v_hat) + eps",
        ),
        (
            "eps_before",
            "adds eps before the bias correction of v, (sqrt(v) + eps) / "
            "sqrt(1 - beta2^t); PyTorch adds it after",
        ),
    ]:
        yield detail, _adam_variant(case, decoupled, variant), got
    yield from _adam_eps_found(case, decoupled, got)
    t, wd = case.kwargs["step"], _decay(case, decoupled)
    # (at t = 0 the correction divides by 0: the NaN the candidate gives on its first step)
    yield (
        f"counts steps from 0 (bias correction with t = {t - 1}, not {t})",
        _adam_variant(case, decoupled, "correct", t - 1),
        got,
        "counts steps from 0",
    )
    if wd:
        yield "ignores weight_decay", minidl_outputs(family, case, weight_decay=0.0), got
        other = "adamw_step" if not decoupled else "adam_step"
        rule = (
            "decoupled decay (AdamW's theta (1 - lr wd)) where Adam adds wd theta to the gradient"
            if not decoupled
            else "Adam's L2 decay (wd theta added to the "
            "gradient) where AdamW shrinks theta by (1 - lr wd)"
        )
        args = (
            case.inputs["param"],
            case.inputs["grad"],
            case.inputs.get("exp_avg"),
            case.inputs.get("exp_avg_sq"),
        )
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in case.kwargs.items()}
        out = REFERENCE[other][0](*args, **dict(kw, weight_decay=wd))
        yield rule, dict(zip(family.outputs, out, strict=True)), got


ADAM_EPS_TRIED = (0.0, 1e-10, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)


def _adam_eps_found(case, decoupled, got):
    """eps hard-coded to another common value (the one nearest the candidate's parameter), in
    PyTorch's place or before the bias correction (the textbook's ``lr_t = lr sqrt(1 -
    beta2^t) / (1 - beta1^t)`` folded into the rate, with its 1e-7)."""
    if "param" not in got:
        return
    asked = case.kwargs.get("eps", 1e-8)
    for variant, where in (("correct", ""), ("eps_before", ", added before the bias correction "
                           "of v ((sqrt(v) + eps) / sqrt(1 - beta2^t), lr_t folded)")):  # fmt: skip
        preds = [(e, _adam_variant(case, decoupled, variant, eps=e)) for e in ADAM_EPS_TRIED]
        eps, pred = min(
            ((e, p) for e, p in preds if e != asked),
            key=lambda ep: float(np.max(np.abs(ep[1]["param"] - got["param"]))),
        )
        yield (
            f"uses eps = {eps:g}, not the eps = {asked:g} asked (hard-coded?){where}",
            pred,
            got,
            f"eps = {eps:g} {variant}",  # one mistake across cases whatever eps they ask
        )
