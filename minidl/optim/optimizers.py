r"""Optimizers: article 001's gradient descent as a formula, then SGD, Adam and AdamW as PyTorch.

Source article 001 writes gradient descent as (chapter 02's (2.1))

.. math:: \theta_{t+1} = \theta_t - \eta \nabla J(\theta_t).                                 (2.1)

:func:`gradient_descent` is exactly that, returning the whole path so a chapter can plot it.
The optimizer classes apply the same idea to a network's parameters, with the update rules
of ``torch.optim`` written out in each docstring and computed once, by the step functions of
:mod:`minidl.optim.steps` (tests/crosscheck holds them equal to PyTorch's step by step)::

    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(model.params, model.grads)    # updates the parameter arrays in place

``params`` and ``grads`` are dicts name -> ndarray with the same keys; the optimizer's state
(momentum buffers, Adam moments) is keyed by the same names. The learning-rate schedules
:class:`StepLR` and :class:`CosineAnnealingLR` at the end set ``optimizer.lr`` once per epoch.
"""

import contextlib
import math
import numbers
import signal
import threading

import numpy as np

from minidl._validation import check_float_array, check_fraction, check_nonnegative
from minidl.optim.steps import AdamStep, SGDStep, _adam_into, _sgd_into, _work_array


def gradient_descent(grad, w0, lr, n_steps):
    r"""Article 001's :math:`w_{t+1} = w_t - \eta \nabla L(w_t)` ((2.1), chapter 02), all iterates.

    On a quadratic :math:`\tfrac12 w^\top A w - b^\top w` the path is known in closed form,
    :math:`w_t = w^* + (I - \eta A)^t (w_0 - w^*)` ((2.5) in chapter 02), and converges iff
    :math:`0 < \eta < 2/\lambda_{\max}(A)` ((2.6)); chapter 02 checks this function against both.

    Parameters
    ----------
    grad : callable
        ``grad(w)`` returns :math:`\nabla L(w)` with the shape of ``w``.
    w0 : float or ndarray
        Starting point; an ndarray keeps its float dtype, a Python number becomes float64.
    lr : float >= 0
        The learning rate :math:`\eta`.
    n_steps : int >= 0

    Returns
    -------
    path : ndarray of shape ``(n_steps + 1, *w0.shape)``
        ``path[t]`` is :math:`w_t`; ``path[0]`` is a copy of ``w0``.

    For :math:`L(w) = \frac{a}{2} w^2` the iterates are :math:`w_t = (1 - \eta a)^t w_0`:
    they converge for :math:`0 < \eta < 2/a` and diverge beyond (tests check both).
    """
    if not callable(grad):
        raise TypeError(f"grad must be a callable returning the gradient, got {grad!r}")
    if isinstance(w0, np.ndarray):
        w = check_float_array(w0, "w0").copy()
    elif isinstance(w0, numbers.Real) and not isinstance(w0, bool):
        w = np.asarray(float(w0))
    else:
        raise TypeError(f"w0 must be a float ndarray or a real number, got {type(w0).__name__}")
    lr = check_nonnegative(lr, "lr")
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    path = np.empty((n_steps + 1, *w.shape), dtype=w.dtype)
    path[0] = w
    for t in range(n_steps):
        g = np.asarray(grad(path[t].copy()))  # a copy: grad may not disturb the stored path
        if g.shape != w.shape:
            raise ValueError(f"grad(w) must return shape {w.shape}, got {g.shape} at step {t}")
        path[t + 1] = path[t] - lr * g
    return path


class Optimizer:
    """Base class: checks ``params``/``grads``, then updates every parameter, all or nothing.

    A step has three phases. The call is validated before anything changes. ``_compute``
    then works out each parameter's update and new state into fresh arrays, changing nothing,
    so an exception there (``MemoryError``, Ctrl-C) leaves every parameter and every step count
    as it was. Last, the new values are copied into the parameters in place (the arrays the
    model holds stay the same objects) and the new states
    swapped in, with Ctrl-C (SIGINT) held back until that is done and delivered right after:
    an interrupt lands before or after a whole step, never inside one. The price is a second
    array per parameter and per state array, kept: the fresh arrays a step computes into are
    those that the step before let go (its new values' arrays, once copied in, and the state
    arrays it replaced), so that after the first two steps a step takes no fresh memory (see
    :func:`minidl.optim.steps._outputs`). So an array of ``state`` is written again two steps
    after it was replaced: copy it to keep it.
    """

    def __init__(self, lr):
        self.lr = lr
        self.state = {}
        self._spare = {}  # name -> {field of a step's result: an array free to write}

    @property
    def lr(self):
        """The learning rate, always a Python float (a NumPy float64 would upcast float32)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_nonnegative(value, "lr")

    def step(self, params, grads):
        """Update every ``params[name]`` in place from ``grads[name]`` (all or nothing)."""
        checked = self._check(params, grads)
        updates = [(name, p, *self._compute(name, p, g)) for name, p, g in checked]
        with _sigint_held():
            for name, p, new, state in updates:
                np.copyto(p, new)
                self._spare[name] = {"param": new, **self._arrays(self.state.get(name))}
                if state is not None:
                    self.state[name] = state

    def zero_state(self):
        """Forget momentum buffers / moments and step counts (start afresh)."""
        self.state.clear()
        self._spare.clear()

    def _out(self, name, p, kind, buffers):
        """The arrays one parameter's step writes into (the step functions' ``out``), a
        ``kind`` of arrays where ``buffers`` says (the value's first) and None elsewhere: the
        spare ones of the last commit where they fit, else new ones. Nothing in ``state``."""
        spare = self._spare.get(name, {})

        def array(field):
            a = spare.get(field)
            fits = a is not None and a.shape == p.shape and a.dtype == p.dtype
            return a if fits else np.empty_like(p)

        wanted = (True,) + tuple(buffers)
        return kind(*(array(f) if w else None for f, w in zip(kind._fields, wanted, strict=True)))

    @staticmethod
    def _arrays(state):
        """A state's arrays by the field names of the step functions' results."""
        if isinstance(state, np.ndarray):  # SGD's momentum buffer
            return {"momentum_buffer": state}
        return {k: v for k, v in (state or {}).items() if isinstance(v, np.ndarray)}

    def _check(self, params, grads):
        for arg, d in (("params", params), ("grads", grads)):
            if not isinstance(d, dict):
                raise TypeError(f"{arg} must be a dict name -> ndarray, got {type(d).__name__}")
        missing = sorted(set(params) - set(grads))
        unexpected = sorted(set(grads) - set(params))
        if missing or unexpected:
            raise ValueError(
                f"grads must have the keys of params; missing {missing}, unexpected {unexpected}"
            )
        checked = []
        for name, p in params.items():
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{name!r}] must be an ndarray, got {type(p).__name__}")
            check_float_array(p, f"params[{name!r}]")
            g = check_float_array(grads[name], f"grads[{name!r}]", finite=True)
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{name!r}] must have the shape of params[{name!r}] {p.shape}, "
                    f"got {g.shape}"
                )
            if not p.flags.writeable:
                raise ValueError(f"params[{name!r}] is read-only; the step updates it in place")
            checked.append((name, p, g.astype(p.dtype, copy=False)))
        return checked

    def _compute(self, name, p, g):
        """``(new value, new state)`` of one parameter (state None: none kept), computed by the
        step functions of :mod:`minidl.optim.steps` without changing anything."""
        raise NotImplementedError


@contextlib.contextmanager
def _sigint_held():
    """Hold Ctrl-C back during the block and deliver it right after.

    Python runs signal handlers in the main thread only, between bytecodes; there the SIGINT
    handler is swapped for one that notes the signal, and the previous handler gets it once
    the block is done. Elsewhere (another thread, a handler that is not Python's) nothing is
    swapped: no KeyboardInterrupt can arise there anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    ``torch.optim.SGD``'s rule, with :math:`\mu` momentum, :math:`\tau` dampening,
    :math:`\lambda` weight decay and :math:`b` the momentum buffer of each parameter:

    .. math::

        g &\leftarrow \nabla_\theta L + \lambda \theta \\
        b &\leftarrow g \ \text{(first step)}, \qquad
        b \leftarrow \mu b + (1 - \tau) g \ \text{(later steps)} \\
        g &\leftarrow g + \mu b \ \text{(Nesterov)}, \qquad g \leftarrow b \ \text{(otherwise)} \\
        \theta &\leftarrow \theta - \eta g

    With ``momentum=0`` this is article 001's :math:`\theta \leftarrow \theta - \eta g`.
    """

    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = check_nonnegative(momentum, "momentum")
        self.dampening = check_nonnegative(dampening, "dampening")
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening = 0, got "
                f"momentum={self.momentum}, dampening={self.dampening}"
            )
        self.nesterov = nesterov

    def _compute(self, name, p, g):
        out = self._out(name, p, SGDStep, (self.momentum != 0,))
        return _sgd_into(out, _work_array(p), p, g, self.state.get(name), self.lr, self.momentum,
                         self.dampening, self.nesterov, self.weight_decay)  # fmt: skip

    def __repr__(self):
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, dampening={self.dampening}, "
            f"nesterov={self.nesterov}, weight_decay={self.weight_decay})"
        )


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015) with ``torch.optim.Adam``'s L2 weight decay and AMSGrad.

    Per parameter, with step count :math:`t` (starting at 1), moments :math:`m, v` (zero at
    first) and :math:`\lambda` weight decay:

    .. math::

        g &\leftarrow \nabla_\theta L + \lambda \theta \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \hat v &\leftarrow \max(\hat v, v) \ \text{(AMSGrad)}, \qquad
        \hat v \leftarrow v \ \text{(otherwise)} \\
        \theta &\leftarrow \theta - \frac{\eta}{1 - \beta_1^t} \cdot
               \frac{m}{\sqrt{\hat v} / \sqrt{1 - \beta_2^t} + \epsilon}

    This is the bias-corrected :math:`\theta - \eta \hat m / (\sqrt{\hat v} + \epsilon)`,
    grouped as PyTorch groups it (``eps`` is added after the bias correction of ``v``).
    """

    _decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (
            check_fraction(b1, "betas[0]", high_open=True),
            check_fraction(b2, "betas[1]", high_open=True),
        )
        self.eps = check_nonnegative(eps, "eps")
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")
        if not isinstance(amsgrad, bool):
            raise TypeError(f"amsgrad must be a bool, got {amsgrad!r}")
        self.amsgrad = amsgrad

    def _compute(self, name, p, g):
        st = self.state.get(name, {"step": 0})
        t = st["step"] + 1
        out = self._out(name, p, AdamStep, (True, True, self.amsgrad))
        states = (st.get("exp_avg"), st.get("exp_avg_sq"), st.get("max_exp_avg_sq"))
        new = _adam_into(out, _work_array(p), p, g, *states, t, self.lr, self.betas, self.eps,
                         self.weight_decay, self.amsgrad, self._decoupled)  # fmt: skip
        state = {"step": t, "exp_avg": new.exp_avg, "exp_avg_sq": new.exp_avg_sq}
        if self.amsgrad:
            state["max_exp_avg_sq"] = new.max_exp_avg_sq
        return new.param, state

    def __repr__(self):
        return (
            f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}, amsgrad={self.amsgrad})"
        )


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    The decay shrinks the parameter directly instead of entering the gradient (and so the
    moments): first :math:`\theta \leftarrow \theta (1 - \eta \lambda)`, then the
    :class:`Adam` update with :math:`g = \nabla_\theta L` (no :math:`\lambda\theta` term).
    PyTorch's default ``weight_decay=0.01`` is kept.
    """

    _decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


class _Schedule:
    """A learning-rate schedule: ``lr_at(epoch)`` in closed form; ``step()`` applies the next.

    As in ``torch.optim.lr_scheduler``: build it after the optimizer (it remembers
    ``optimizer.lr`` as the base rate, epoch 0) and call ``step()`` once at the end of each
    epoch; ``step()`` sets ``optimizer.lr = lr_at(epoch + 1)``. ``lr_at`` alone is the plain
    function of the epoch, for plotting a schedule without an optimizer's help.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a minidl Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)
        return self.optimizer.lr


class StepLR(_Schedule):
    r""":math:`\eta_e = \eta_0 \gamma^{\lfloor e / s \rfloor}`: multiply by ``gamma`` every
    ``step_size`` epochs (``torch.optim.lr_scheduler.StepLR``)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral):
            raise TypeError(f"step_size must be an integer >= 1, got {step_size!r}")
        if step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = check_nonnegative(gamma, "gamma")

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_Schedule):
    r"""Cosine annealing (Loshchilov & Hutter 2017) from :math:`\eta_0` to ``eta_min`` over
    ``T_max`` epochs:

    .. math:: \eta_e = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi e / T_{max})).

    PyTorch computes the same curve recursively from the previous rate; the closed form here
    equals it up to round-off (tested), and like PyTorch's it rises again after ``T_max``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Integral):
            raise TypeError(f"T_max must be an integer >= 1, got {T_max!r}")
        if T_max < 1:
            raise ValueError(f"T_max must be an integer >= 1, got {T_max}")
        self.T_max = int(T_max)
        self.eta_min = check_nonnegative(eta_min, "eta_min")

    def lr_at(self, epoch):
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1.0 + cos)
