"""The optimizer step functions: equal to ``torch.optim`` step for step, equal to their loop
twins, pure (nothing modified), the classes built on them, and their bad arguments."""

import tracemalloc

import numpy as np
import pytest

from minidl.optim import SGD, Adam, AdamW
from minidl.optim.steps import (
    AdamStep,
    SGDStep,
    adam_step,
    adam_step_naive,
    adamw_step,
    sgd_step,
    sgd_step_naive,
)

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02),
]
ADAM_CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, amsgrad=True, weight_decay=0.01),
]


def _grads(n_steps, shape=(3, 4)):
    rng = np.random.default_rng(0)
    return rng.normal(size=shape), [rng.normal(size=shape) for _ in range(n_steps)]


def _run_sgd(step, p, grads, cfg):
    buf = None
    for g in grads:
        p, buf = step(p, g, buf, **cfg)
    return p, buf


def _run_adam(step, p, grads, cfg, **extra):
    m = v = vmax = None
    for t, g in enumerate(grads, start=1):
        p, m, v, vmax = step(p, g, m, v, vmax, step=t, **cfg, **extra)
    return p, m, v, vmax


@pytest.mark.parametrize("cfg", SGD_CONFIGS)
def test_sgd_step_equals_torch_step_for_step(cfg):
    torch = pytest.importorskip("torch")
    p0, grads = _grads(6)
    t = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([t], **cfg)
    p, buf = p0, None
    for g in grads:
        t.grad = torch.tensor(g)
        opt.step()
        p, buf = sgd_step(p, g, buf, **cfg)
        # float64, the same operations in the same order: equal to the last bits or nearly
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-14, atol=1e-15)
    if cfg.get("momentum"):
        np.testing.assert_allclose(buf, opt.state[t]["momentum_buffer"].numpy(), rtol=1e-14)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS)
def test_adam_step_equals_torch_step_for_step(cfg, decoupled):
    torch = pytest.importorskip("torch")
    p0, grads = _grads(6)
    t = torch.tensor(p0, requires_grad=True)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([t], **dict(dict(weight_decay=0.0), **cfg), foreach=False)
    p, m, v, vmax = p0, None, None, None
    for step, g in enumerate(grads, start=1):
        t.grad = torch.tensor(g)
        opt.step()
        p, m, v, vmax = adam_step(
            p, g, m, v, vmax, step=step, **dict(dict(weight_decay=0.0), **cfg), decoupled=decoupled
        )
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-13, atol=1e-15)
    state = opt.state[t]
    np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-14)
    np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-14)


@pytest.mark.parametrize("cfg", SGD_CONFIGS)
def test_sgd_loop_twin(cfg):
    p0, grads = _grads(4)
    for a, b in zip(_run_sgd(sgd_step, p0, grads, cfg), _run_sgd(sgd_step_naive, p0, grads, cfg),
                    strict=True):  # fmt: skip
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS)
def test_adam_loop_twin(cfg, decoupled):
    p0, grads = _grads(4)
    fast = _run_adam(adam_step, p0, grads, cfg, decoupled=decoupled)
    slow = _run_adam(adam_step_naive, p0, grads, cfg, decoupled=decoupled)
    for a, b in zip(fast, slow, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_steps_are_pure():
    p, g = np.ones(3), np.full(3, 0.5)
    buf = np.zeros(3)
    sgd_step(p, g, buf, lr=0.1, momentum=0.9)
    adamw_step(p, g, buf, buf, step=2)
    assert np.all(p == 1) and np.all(g == 0.5) and np.all(buf == 0)


def test_classes_run_the_step_functions():
    """The classes' result equals the step functions' (one formula, one place), for every
    configuration and over five steps: from the third the classes write into the arrays the
    step before let go."""
    p0, grads = _grads(5)
    cases = [(SGD, lambda c=c: _run_sgd(sgd_step, p0, grads, c)[0], c) for c in SGD_CONFIGS]
    cases += [(Adam, lambda c=c: _run_adam(adam_step, p0, grads, c)[0], c) for c in ADAM_CONFIGS]
    cases += [(AdamW, lambda c=c: _run_adam(adamw_step, p0, grads, c)[0], c)
              for c in ADAM_CONFIGS]  # fmt: skip
    for cls, run, cfg in cases:
        opt, p = cls(**cfg), p0.copy()
        for g in grads:
            opt.step({"w": p}, {"w": g})
        np.testing.assert_array_equal(p, run())


@pytest.mark.parametrize("cfg", SGD_CONFIGS)
def test_sgd_step_into_out_is_the_same_step(cfg):
    """``out``: the same bits as new arrays, written into the arrays given and returned; the
    inputs untouched."""
    p0, grads = _grads(4)
    want = _run_sgd(sgd_step, p0, grads, cfg)
    p, buf = p0.copy(), None
    for g in grads:
        before = (p.copy(), g.copy(), None if buf is None else buf.copy())
        out = SGDStep(np.empty_like(p), np.empty_like(p))
        got = sgd_step(p, g, buf, **cfg, out=out)
        assert got.param is out.param
        assert got.momentum_buffer is (out.momentum_buffer if cfg.get("momentum") else None)
        for a, b in zip((p, g, buf), before, strict=True):
            np.testing.assert_array_equal(a, b)
        p, buf = got
    np.testing.assert_array_equal(p, want[0])
    if want[1] is not None:
        np.testing.assert_array_equal(buf, want[1])


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS)
def test_adam_step_into_out_is_the_same_step(cfg, decoupled):
    p0, grads = _grads(4)
    want = _run_adam(adam_step, p0, grads, cfg, decoupled=decoupled)
    p, state = p0.copy(), (None, None, None)
    for t, g in enumerate(grads, start=1):
        out = AdamStep(*(np.empty_like(p) for _ in range(4)))
        got = adam_step(p, g, *state, step=t, **cfg, decoupled=decoupled, out=out)
        assert all(a is b for a, b in zip(got[:3], out[:3], strict=True))
        assert got.max_exp_avg_sq is (out.max_exp_avg_sq if cfg.get("amsgrad") else None)
        p, state = got.param, got[1:]
    for a, b in zip((p, *state), want, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("out", "exc", "match"),
    [
        (lambda p: [p.copy()], TypeError, "adam_step out must be an AdamStep"),
        (lambda p: AdamStep(np.empty(4), np.empty(3), np.empty(3), None), ValueError,
         r"out.param must be an array of param's dtype float64 and shape \(3,\), got float64 "
         r"\(4,\)"),
        (lambda p: AdamStep(np.empty(3), np.empty(3, np.float32), np.empty(3), None), ValueError,
         r"out.exp_avg must be an array of param's dtype float64 .* got float32"),
        (lambda p: AdamStep(p, np.empty(3), np.empty(3), None), ValueError,
         "out.param must be writeable and apart from the other arrays"),
        (lambda p: (lambda a: AdamStep(np.empty(3), a, a, None))(np.empty(3)), ValueError,
         "out.exp_avg_sq must be writeable and apart"),
    ],
)  # fmt: skip
def test_bad_out(out, exc, match):
    p = np.ones(3)
    with pytest.raises(exc, match=match):
        adam_step(p, np.ones(3), step=1, out=out(p))
    np.testing.assert_array_equal(p, 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1),
        lambda: SGD(0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
        lambda: SGD(0.05, momentum=0.8, nesterov=True, weight_decay=0.02),
        lambda: Adam(0.01, weight_decay=0.05),
        lambda: Adam(0.01, amsgrad=True),
        lambda: AdamW(0.01, amsgrad=True),
    ],
)
def test_a_class_step_after_the_second_takes_no_new_arrays(make):
    """From the third step on, the classes write each step into the arrays the step before let
    go (``Optimizer``'s docstring): tracemalloc sees no array of the parameter's size made.
    Before, a step made two (SGD) to four (Adam) new arrays of 512 KiB."""
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(256, 256)), "b": rng.normal(size=256)}
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    opt = make()
    for _ in range(3):
        opt.step(params, grads)
    tracemalloc.start()
    try:
        opt.step(params, grads)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the finiteness check of the grads makes a mask of 64 KiB (one byte an element)
    assert peak < 2**18, peak


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sgd_step(np.ones(2), np.ones(3), lr=0.1), r"grad must have param's shape"),
        (lambda: sgd_step(np.ones(2), np.ones(2), np.ones(3), lr=0.1, momentum=0.9),
         "momentum_buffer must have"),
        (lambda: sgd_step(np.ones(2), np.ones(2), lr=0.1, nesterov=True), "nesterov=True requires"),
        (lambda: adam_step(np.ones(2), np.ones(2), step=0), "step must be the number"),
        (lambda: adam_step(np.ones(2), np.ones(2), step=1, betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda: adam_step(np.ones(2, dtype=int), np.ones(2), step=1), "param must have dtype"),
    ],
)  # fmt: skip
def test_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_step_keeps_float32_with_numpy_float64_hyperparameters(decoupled, amsgrad):
    """NumPy float64 scalars as lr, betas, eps and weight decay give a float32 parameter the
    float32 step of the same Python floats, bit for bit (NumPy 2 would otherwise carry a NumPy
    scalar's float64 into the step's arrays), over three steps."""
    rng = np.random.default_rng(3)
    param = rng.normal(size=50).astype(np.float32)
    hyper = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.05)
    as_numpy = dict(lr=np.float64(1e-2), betas=(np.float64(0.9), np.float64(0.99)),
                    eps=np.float64(1e-6), weight_decay=np.float64(0.05))  # fmt: skip
    runs = []
    for kw in (hyper, as_numpy):
        p, state = param, (None, None, None)
        for step in (1, 2, 3):
            grad = np.random.default_rng(step).normal(size=50).astype(np.float32)
            out = adam_step(p, grad, *state, step=step, amsgrad=amsgrad, decoupled=decoupled, **kw)
            p, state = out.param, out[1:]
        runs.append(out)
    for got, want in zip(runs[1], runs[0], strict=True):
        if want is None:
            assert got is None
            continue
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
