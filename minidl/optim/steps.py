r"""The optimizer updates as step functions: one parameter, its gradient and its state in, the new
parameter and state out, nothing modified (CS231n's ``sgd_momentum(w, dw, config)`` habit).

These are the formulas of ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` (single-tensor path), step
for step; the classes of :mod:`minidl.optim` call them for every parameter, so each formula
lives here once. The ``_naive`` twins are the same formulas element by element.

SGD, with :math:`\mu` momentum, :math:`\tau` dampening, :math:`\lambda` weight decay and the
momentum buffer :math:`b` (None before the first step):

.. math::

    g \leftarrow g + \lambda\theta, \qquad
    b \leftarrow g \ \text{(first step)}, \quad b \leftarrow \mu b + (1 - \tau) g, \qquad
    g \leftarrow g + \mu b \ \text{(Nesterov)} \ \text{or}\ b, \qquad
    \theta \leftarrow \theta - \eta g

Adam at step :math:`t = 1, 2, \dots` (moments zero before the first step):

.. math::

    g \leftarrow g + \lambda\theta \ \text{(Adam)}, \qquad
    \theta \leftarrow \theta (1 - \eta\lambda) \ \text{(AdamW, decoupled)}

    m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2,
    \qquad \hat v = \max(\hat v_{old}, v) \ \text{(AMSGrad)} \ \text{or}\ v

    \theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t} \cdot
        \frac{m}{\sqrt{\hat v} / \sqrt{1 - \beta_2^t} + \epsilon}
"""

import math
from typing import NamedTuple

import numpy as np

from minidl._validation import check_float_array, check_fraction, check_nonnegative
from minidl.functional import _scratch


class SGDStep(NamedTuple):
    param: np.ndarray
    momentum_buffer: np.ndarray | None


class AdamStep(NamedTuple):
    param: np.ndarray
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: np.ndarray | None


def _check(param, grad, fn, **state):
    param = check_float_array(param, f"{fn} param")
    grad = check_float_array(grad, f"{fn} grad")
    if grad.shape != param.shape:
        raise ValueError(f"{fn} grad must have param's shape {param.shape}, got {grad.shape}")
    for name, a in state.items():
        if a is not None and np.shape(a) != param.shape:
            raise ValueError(
                f"{fn} {name} must have param's shape {param.shape}, got {np.shape(a)}"
            )
    return param, grad.astype(param.dtype, copy=False)


def _outputs(out, kind, param, grad, *states, buffers):
    """``(new, work)`` of a step: the arrays it writes its results into, a ``kind``
    (``SGDStep`` or ``AdamStep``) whose state fields are arrays where ``buffers`` says and None
    elsewhere, and one work array of the parameter's size (:func:`_work_array`). New arrays
    where ``out`` is None; otherwise ``out``'s, checked: the parameter's shape and dtype,
    writeable, none overlapping an input or another."""
    fields = kind._fields  # param first, then the state
    wanted = (True,) + tuple(buffers)
    if out is None:
        made = [np.empty_like(param) if want else None for want in wanted]
        return kind(*made), np.empty_like(param)
    fn = "adam_step" if kind is AdamStep else "sgd_step"
    if not isinstance(out, tuple) or len(out) != len(fields):
        raise TypeError(f"{fn} out must be an {kind.__name__} of arrays, got {type(out).__name__}")
    inputs = [a for a in (param, grad, *states) if a is not None]
    checked = []
    for name, a, want in zip(fields, out, wanted, strict=True):
        if not want:
            checked.append(None)
            continue
        if not isinstance(a, np.ndarray) or a.shape != param.shape or a.dtype != param.dtype:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(
                f"{fn} out.{name} must be an array of param's dtype {param.dtype} and shape "
                f"{param.shape}, got {got}"
            )
        if not a.flags.writeable or any(np.may_share_memory(a, b) for b in inputs + checked):
            raise ValueError(f"{fn} out.{name} must be writeable and apart from the other arrays")
        checked.append(a)
    return kind(*checked), _work_array(param)


def _work_array(param):
    """A work array of ``param``'s shape and dtype: this thread's scratch buffer
    ``optim-work`` (:mod:`minidl.functional._scratch`), the same memory at every step, where a
    new array's first writes would be page faults."""
    return _scratch.scratch("optim-work", param.shape, param.dtype)


def _check_sgd(momentum, dampening, nesterov, weight_decay, lr):
    check_nonnegative(lr, "lr")
    for name, v in (
        ("momentum", momentum),
        ("dampening", dampening),
        ("weight_decay", weight_decay),
    ):
        check_nonnegative(v, name)
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
    if nesterov and (momentum == 0 or dampening != 0):
        raise ValueError(
            "nesterov=True requires momentum > 0 and dampening = 0, got "
            f"momentum={momentum}, dampening={dampening}"
        )


def _check_adam(step, lr, betas, eps, weight_decay):
    """Validate Adam's hyperparameters; return ``(lr, (beta1, beta2), eps, weight_decay)`` as
    Python floats, so that a NumPy float64 among them cannot turn a float32 step's arithmetic
    into float64 (NumPy 2 keeps a NumPy scalar's dtype in mixed arithmetic)."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be the number of this step, an integer >= 1, got {step!r}")
    lr = check_nonnegative(lr, "lr")
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    betas = check_fraction(b1, "betas[0]", high_open=True), check_fraction(
        b2, "betas[1]", high_open=True
    )
    return lr, betas, check_nonnegative(eps, "eps"), check_nonnegative(weight_decay, "weight_decay")


def sgd_step(
    param,
    grad,
    momentum_buffer=None,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
    out=None,
):
    r"""One ``torch.optim.SGD`` step (module docstring): returns ``SGDStep(param,
    momentum_buffer)``, new arrays (the buffer None without momentum), or ``out``'s arrays
    written with them (:func:`_outputs`)."""
    param, grad = _check(param, grad, "sgd_step", momentum_buffer=momentum_buffer)
    _check_sgd(momentum, dampening, nesterov, weight_decay, lr)
    new, work = _outputs(out, SGDStep, param, grad, momentum_buffer, buffers=(momentum != 0,))
    return _sgd_into(new, work, param, grad, momentum_buffer, lr, momentum, dampening, nesterov,
                     weight_decay)  # fmt: skip


def _sgd_into(new, work, param, grad, momentum_buffer, lr, momentum, dampening, nesterov,
              weight_decay):  # fmt: skip
    """:func:`sgd_step`'s formulas into ``new``'s arrays, with ``work`` (the parameter's
    size), nothing checked: the optimizer classes call this, their arguments checked once."""
    g = grad
    if weight_decay:  # g = grad + lambda theta, in the new value's array until the end
        g = np.multiply(param, weight_decay, out=new.param)
        np.add(grad, g, out=g)
    if momentum:
        buf = new.momentum_buffer
        if momentum_buffer is None:
            buf[...] = g  # a copy on the first step: g may be the caller's grad array
        else:  # b = mu b + (1 - tau) g
            np.multiply(momentum_buffer, momentum, out=buf)
            buf += np.multiply(g, 1.0 - dampening, out=work)
        if nesterov:  # g = g + mu b
            g = np.add(g, np.multiply(buf, momentum, out=work), out=work)
        else:
            g = buf
    np.subtract(param, np.multiply(g, lr, out=work), out=new.param)  # theta - eta g
    return new


def adam_step(
    param,
    grad,
    exp_avg=None,
    exp_avg_sq=None,
    max_exp_avg_sq=None,
    *,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
    out=None,
):
    r"""One ``torch.optim.Adam`` step (``decoupled=True``: ``AdamW``), ``step`` = t >= 1 the
    number of this step; moments None before the first. Returns ``AdamStep(param, exp_avg,
    exp_avg_sq, max_exp_avg_sq)``, new arrays (the last None without AMSGrad), or ``out``'s
    arrays written with them (:func:`_outputs`)."""
    param, grad = _check(
        param,
        grad,
        "adam_step",
        exp_avg=exp_avg,
        exp_avg_sq=exp_avg_sq,
        max_exp_avg_sq=max_exp_avg_sq,
    )
    lr, betas, eps, weight_decay = _check_adam(step, lr, betas, eps, weight_decay)
    states = (exp_avg, exp_avg_sq, max_exp_avg_sq)
    new, work = _outputs(out, AdamStep, param, grad, *states, buffers=(True, True, amsgrad))
    return _adam_into(new, work, param, grad, *states, step, lr, betas, eps, weight_decay,
                      amsgrad, decoupled)  # fmt: skip


def _adam_into(new, work, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, betas,
               eps, weight_decay, amsgrad, decoupled):  # fmt: skip
    """:func:`adam_step`'s formulas into ``new``'s arrays, with ``work`` (the parameter's
    size), nothing checked: the optimizer classes call this, their arguments checked once
    (Python floats, as :func:`_check_adam` makes them)."""
    b1, b2 = betas
    # The formulas of the module docstring, each product and sum written into the arrays this
    # step returns or into one work array, in the order of the expressions, so the roundings
    # (and the bits) are theirs: 4 new arrays of the parameter's size instead of 12 (Adam over
    # article 003's CNN, 225,034 parameters: 0.93 -> 0.83 ms a step, PyTorch 0.53; Intel Xeon,
    # one thread, December 2026), none with ``out``.
    g = grad
    if weight_decay and not decoupled:  # g = grad + lambda theta, in the new value's array
        g = np.multiply(param, weight_decay, out=new.param)
        np.add(grad, g, out=g)
    m, v = new.exp_avg, new.exp_avg_sq
    if exp_avg is None:
        m.fill(0)
    else:
        np.multiply(exp_avg, b1, out=m)
    m += np.multiply(g, 1.0 - b1, out=work)  # m = beta1 m + (1 - beta1) g
    if exp_avg_sq is None:
        v.fill(0)
    else:
        np.multiply(exp_avg_sq, b2, out=v)
    np.multiply(g, 1.0 - b2, out=work)
    work *= g
    v += work  # v = beta2 v + (1 - beta2) g g
    v_hat = v
    if amsgrad:
        # before the first step v_max is 0, and max(0, v) is v (v >= 0)
        v_hat = new.max_exp_avg_sq
        if max_exp_avg_sq is None:
            v_hat[...] = v
        else:
            np.maximum(max_exp_avg_sq, v, out=v_hat)
    bias_correction1, bias_correction2 = 1.0 - b1**step, 1.0 - b2**step
    denom = np.sqrt(v_hat, out=work)
    denom /= math.sqrt(bias_correction2)
    denom += eps  # sqrt(v_hat) / sqrt(1 - beta2^t) + eps
    update = np.multiply(m, lr / bias_correction1, out=new.param)
    update /= denom
    p = param
    if weight_decay and decoupled:  # theta (1 - eta lambda), AdamW's first step
        p = np.multiply(param, 1.0 - lr * weight_decay, out=work)
    np.subtract(p, update, out=update)
    return new


def adamw_step(
    param,
    grad,
    exp_avg=None,
    exp_avg_sq=None,
    max_exp_avg_sq=None,
    *,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.01,
    amsgrad=False,
    out=None,
):
    r"""One ``torch.optim.AdamW`` step: :func:`adam_step` with the decay decoupled,
    :math:`\theta \leftarrow \theta(1 - \eta\lambda)` first (PyTorch's default λ = 0.01)."""
    return adam_step(
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        max_exp_avg_sq,
        step=step,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        decoupled=True,
        out=out,
    )


# ---------------------------------------------------------------- loop twins
def sgd_step_naive(
    param,
    grad,
    momentum_buffer=None,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
):
    """Loop twin of :func:`sgd_step`, one element at a time."""
    param, grad = _check(param, grad, "sgd_step", momentum_buffer=momentum_buffer)
    _check_sgd(momentum, dampening, nesterov, weight_decay, lr)
    new = np.empty_like(param)
    buf = np.empty_like(param) if momentum else None
    for i in np.ndindex(param.shape):
        g = grad[i] + weight_decay * param[i]
        if momentum:
            b = (
                g
                if momentum_buffer is None
                else momentum * momentum_buffer[i] + (1 - dampening) * g
            )
            buf[i] = b
            g = g + momentum * b if nesterov else b
        new[i] = param[i] - lr * g
    return SGDStep(new, buf)


def adam_step_naive(
    param,
    grad,
    exp_avg=None,
    exp_avg_sq=None,
    max_exp_avg_sq=None,
    *,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
):
    """Loop twin of :func:`adam_step`, one element at a time."""
    param, grad = _check(
        param,
        grad,
        "adam_step",
        exp_avg=exp_avg,
        exp_avg_sq=exp_avg_sq,
        max_exp_avg_sq=max_exp_avg_sq,
    )
    lr, (b1, b2), eps, weight_decay = _check_adam(step, lr, betas, eps, weight_decay)
    out = [np.zeros_like(param) for _ in range(3)]
    v_max = np.zeros_like(param) if amsgrad else None
    for i in np.ndindex(param.shape):
        p, g = param[i], grad[i]
        if weight_decay and decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * param[i]
        m = (0.0 if exp_avg is None else exp_avg[i]) * b1 + (1 - b1) * g
        v = (0.0 if exp_avg_sq is None else exp_avg_sq[i]) * b2 + (1 - b2) * g * g
        v_hat = v
        if amsgrad:
            v_hat = v_max[i] = max(0.0 if max_exp_avg_sq is None else max_exp_avg_sq[i], v)
        denom = math.sqrt(v_hat) / math.sqrt(1 - b2**step) + eps
        out[0][i] = p - (lr / (1 - b1**step)) * m / denom
        out[1][i], out[2][i] = m, v
    return AdamStep(out[0], out[1], out[2], v_max)
