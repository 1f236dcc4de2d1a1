"""The losses and optimizer steps courses teach (issue 16): deliberately wrong implementations,
each with a mistake those codebases make, and the diagnosis that names it.

The guards against log(0) (``log(p + 1e-7)``, a clip, none at all), the reductions (CS231n's
hinge loss sums over the classes, ``-mean(t * log p)`` divides by N K), the logits' gradient
returned as the probabilities', the velocity form of momentum and Nesterov, Adam without bias
correction, eps in the wrong place, a step count from 0, Adam's and AdamW's weight decay
swapped. PyTorch passing every case: test_conformance_torch.py.
"""

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.functional import losses as loss_ops
from minidl.optim.steps import adam_step, adamw_step, sgd_step


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _bce(p, t, guard=lambda q: q):
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) as the original does
        return -np.mean(t * np.log(guard(p)) + (1 - t) * np.log(guard(1 - p)))


def _hinge_cs231n(x, target, margin=1.0):
    """CS231n's svm_loss_vectorized: the hinges summed over j != y_i, averaged over N."""
    rows = np.arange(len(target))
    hinges = np.maximum(0, x - x[rows, target][:, None] + margin)
    hinges[rows, target] = 0
    return hinges.sum() / len(target)


def _hinge_with_correct_class(x, target, margin=1.0):
    rows = np.arange(len(target))
    return np.maximum(0, x - x[rows, target][:, None] + margin).mean()  # j = y_i adds margin


def _sgd_velocity(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
                  nesterov=False, weight_decay=0.0):  # fmt: skip
    """CS231n's sgd_momentum: v = mu v - lr dw, w += v (Nesterov: w += -mu v_old + (1 + mu) v)."""
    v_old = np.zeros_like(param) if momentum_buffer is None else momentum_buffer
    v = momentum * v_old - lr * (grad + weight_decay * param)
    return param + ((1 + momentum) * v - momentum * v_old if nesterov else v), v


def _adam(correction=True, eps_inside=False, count_from=1):
    """CS231n-style Adam with one slip: no bias correction, eps inside the square root, or the
    step counted from 0."""

    def adam(param, grad, exp_avg=None, exp_avg_sq=None, *, step, lr, betas=(0.9, 0.999),
             eps=1e-8, weight_decay=0.0):  # fmt: skip
        (b1, b2), t = betas, step - 1 + count_from
        g = grad + weight_decay * param
        m = b1 * (0.0 if exp_avg is None else exp_avg) + (1 - b1) * g
        v = b2 * (0.0 if exp_avg_sq is None else exp_avg_sq) + (1 - b2) * g * g
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0: divides by 0
            m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correction else (m, v)
            denominator = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
            return param - lr * m_hat / denominator, m, v

    return adam


def _adam_lr_t(param, grad, exp_avg=None, exp_avg_sq=None, *, step, lr, betas=(0.9, 0.999),
               eps=1e-8, weight_decay=0.0):  # fmt: skip
    """The bias corrections folded into the rate, lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), and
    eps = 1e-7 written in (a textbook's Adam): eps lands before v's correction."""
    (b1, b2), g = betas, grad + weight_decay * param
    m = b1 * (0.0 if exp_avg is None else exp_avg) + (1 - b1) * g
    v = b2 * (0.0 if exp_avg_sq is None else exp_avg_sq) + (1 - b2) * g * g
    lr_t = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
    return param - lr_t * m / (np.sqrt(v) + 1e-7), m, v


def _adam_decoupled(param, grad, exp_avg=None, exp_avg_sq=None, weight_decay=0.0, **kw):
    return adamw_step(param, grad, exp_avg, exp_avg_sq, weight_decay=weight_decay, **kw)[:3]


def _adamw_coupled(param, grad, exp_avg=None, exp_avg_sq=None, weight_decay=0.01, **kw):
    return adam_step(param, grad, exp_avg, exp_avg_sq, weight_decay=weight_decay, **kw)[:3]


def _adamw_no_decay(param, grad, exp_avg=None, exp_avg_sq=None, weight_decay=0.01, **kw):
    return adamw_step(param, grad, exp_avg, exp_avg_sq, weight_decay=0.0, **kw)[:3]


def _sgd_ignores(name):
    def sgd(param, grad, momentum_buffer=None, **kw):
        kw.pop(name, None)
        return sgd_step(param, grad, momentum_buffer, **kw)

    return sgd


def _sgd_zero_buffer(param, grad, momentum_buffer=None, **kw):
    buffer = np.zeros_like(param) if momentum_buffer is None else momentum_buffer
    return sgd_step(param, grad, buffer, **kw)


ADAM_STEPPED = {"step_5", "large_eps", "betas", "weight_decay"}
WRONG = [
    # (family, wrong implementation, phrase in the diagnosis, the cases that must fail)
    ("multi_margin_loss", _hinge_cs231n, "sums the hinges over the classes", None),
    ("multi_margin_loss", _hinge_with_correct_class, "counts the j = y_i term too", None),
    ("multi_margin_loss", lambda x, target, margin=1.0: loss_ops.multi_margin_loss(x, target),
     "ignores margin (acts as 1)", {"margin_0.5"}),
    ("binary_cross_entropy", lambda input, target: _bce(input, target, lambda q: q + 1e-7),
     "computes log(p + 1e-07)", None),
    ("binary_cross_entropy", lambda input, target: input.size * _bce(input, target),
     "sums instead of averaging", None),
    ("binary_cross_entropy_with_logits", lambda input, target: _bce(_sigmoid(input), target),
     "NaN/inf", {"extreme"}),  # sigmoid(|z| > 37) rounds to 1: log(1 - 1) = -inf
    ("binary_cross_entropy_with_logits", lambda input, target: _bce(
        _sigmoid(input), target, lambda q: q + 1e-7), "computes log(p + 1e-07)", None),
    ("binary_cross_entropy_with_logits", lambda input, target: _bce(
        _sigmoid(input), target, lambda q: np.clip(q, 1e-7, 1 - 1e-7)),
     "computes log(clip(p, 1e-07, 1 - 1e-07))", {"extreme"}),
    ("cross_entropy_probs", lambda p, target: -np.mean(np.log(
        p[np.arange(len(target)), target] + 1e-7)), "computes log(p + 1e-07)", None),
    ("cross_entropy_probs", lambda p, target: -np.mean(np.eye(p.shape[1])[target] * np.log(p)),
     "averages over every element, -mean(t * log p)", None),
    ("cross_entropy_onehot", lambda logits, target: -np.mean(target * np.log(_softmax(logits))),
     "averages over every element, -mean(t * log p)", None),
    ("cross_entropy_onehot", lambda logits, target: -np.sum(
        target * np.log(_softmax(logits) + 1e-7)) / len(target), "computes log(p + 1e-07)", None),
    ("cross_entropy_onehot", lambda logits, target: -np.sum(
        target * np.log(_softmax(logits))), "sums over the batch instead of averaging", None),
    ("sgd_step", _sgd_velocity, "keeps a velocity v = mu v - lr g", None),
    ("sgd_step", _sgd_ignores("nesterov"), "ignores nesterov", {"nesterov"}),
    ("sgd_step", _sgd_ignores("dampening"), "ignores dampening",
     {"dampening"}),  # on the first step PyTorch does not damp
    ("sgd_step", _sgd_ignores("weight_decay"), "ignores weight_decay", {"weight_decay"}),
    ("sgd_step", _sgd_zero_buffer, "starts from a zero buffer", {"first_step_dampening"}),
    ("adam_step", _adam(correction=False), "no bias correction", None),
    ("adam_step", _adam(eps_inside=True), "adds eps inside the square root",
     {"first_step", "large_eps"}),  # v_hat >> eps elsewhere: within 1e-7 of the step
    ("adam_step", _adam(count_from=0), "counts steps from 0", None),
    ("adam_step", _adam_decoupled, "decoupled decay (AdamW's", {"weight_decay"}),
    ("adamw_step", _adamw_coupled, "Adam's L2 decay", None),  # AdamW decays by default
    ("adamw_step", _adamw_no_decay, "ignores weight_decay", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "wrong", "phrase", "cases"), WRONG, ids=[f"{w[0]}-{w[2][:24]}" for w in WRONG]
)
def test_wrong_convention_is_named(family, wrong, phrase, cases):
    assert_diagnosed(check(wrong, family), phrase, cases)


def test_adam_with_the_rate_folded_and_eps_written_in():
    """eps = 1e-7 before v's bias correction moves the step by ~eps / sqrt(v): clearly where
    sqrt(v) is small (the first step) or eps is asked large, at the tolerance's edge in step_5
    (ratio ~1), within it elsewhere. Every failing case names the mistake."""
    report = check(_adam_lr_t, "adam_step")
    assert {"first_step", "large_eps"} <= {r.case for r in report.failures}
    for row in report.failures:
        assert "uses eps = 1e-07, not the eps = " in row.diagnosis, row.diagnosis
        assert "before the bias correction of v" in row.diagnosis


def test_a_correct_course_adam_passes():
    """The control: the same code without its slip passes every case."""
    assert check(_adam(), "adam_step").passed


@pytest.mark.parametrize("family", ["binary_cross_entropy", "cross_entropy_probs"])
def test_logits_gradient_given_for_the_probabilities(family):
    """Backward returns (p - t) / N, the fused softmax/sigmoid + loss gradient."""
    forward, _ = REFERENCE[family]

    def backward(dy, cache):
        p, t = cache
        if t.ndim == 1 and p.ndim == 2:  # class indices
            t = np.eye(p.shape[1])[t]
        return (dy * (p - t) / (p.size if family.startswith("binary") else len(p)),)

    def fwd(p, target):
        return forward(p, target)[0], (p, target)

    report = check(fwd, family, backward=backward)
    for row in report.rows:
        assert row.failed == (f"grad {'input' if 'binary' in family else 'p'}",), row.failed
        assert "gradient with respect to the logits" in row.diagnosis, row.diagnosis


@pytest.mark.parametrize("family", sorted({w[0] for w in WRONG}))
def test_minidl_itself_passes_with_no_diagnosis(family):
    forward, backward = REFERENCE[family]
    report = check(forward, family, backward=backward)
    assert report.passed and not any(r.diagnosis for r in report.rows), report.table()
