"""Optimizers and schedules: hand-computed paths and updates, in-place semantics, bad inputs."""

import math

import numpy as np
import pytest

from minidl.optim import SGD, Adam, AdamW, CosineAnnealingLR, StepLR, gradient_descent

# --- gradient_descent (article 001) ----------------------------------------------------------


@pytest.mark.parametrize("lr", [0.1, 0.5, 0.9])
def test_gradient_descent_quadratic_closed_form(lr):
    # f(w) = a/2 w^2, grad a w: w_t = (1 - lr a)^t w0
    a, w0, n = 2.0, 3.0, 12
    path = gradient_descent(lambda w: a * w, w0, lr, n)
    want = (1 - lr * a) ** np.arange(n + 1) * w0
    assert path.shape == (n + 1,)
    np.testing.assert_allclose(path, want, rtol=1e-13, atol=1e-300)


def test_gradient_descent_vector_quadratic_converges_and_diverges():
    # f(w) = 1/2 sum a_i w_i^2: coordinate i converges iff lr < 2 / a_i
    a = np.array([1.0, 4.0])
    path = gradient_descent(lambda w: a * w, np.array([1.0, 1.0]), 0.6, 30)
    assert path.shape == (31, 2)
    np.testing.assert_allclose(path[:, 0], 0.4 ** np.arange(31), rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], (-1.4) ** np.arange(31), rtol=1e-12)
    assert abs(path[-1, 0]) < 1e-11 and abs(path[-1, 1]) > 1e4


def test_gradient_descent_least_squares_reaches_solution(rng):
    # L(w) = 1/(2m) ||Xw - y||^2 has the normal-equation solution as its minimum
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=40)
    path = gradient_descent(lambda w: X.T @ (X @ w - y) / 40, np.zeros(3), 0.3, 400)
    np.testing.assert_allclose(path[-1], np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-8)


def test_gradient_descent_keeps_float32_and_copies_w0():
    w0 = np.ones((2, 2), dtype=np.float32)
    path = gradient_descent(lambda w: w, w0, 0.5, 3)
    assert path.dtype == np.float32 and path.shape == (4, 2, 2)
    np.testing.assert_array_equal(path[3], np.full((2, 2), 0.125, dtype=np.float32))
    np.testing.assert_array_equal(w0, 1.0)


def test_gradient_descent_zero_steps():
    np.testing.assert_array_equal(
        gradient_descent(lambda w: w, np.arange(3.0), 0.1, 0), [[0, 1, 2]]
    )


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(grad=3), TypeError, "grad must be a callable"),
        (dict(grad=lambda w: np.zeros(5)), ValueError, "grad\\(w\\) must return shape"),
        (dict(w0="a"), TypeError, "w0 must be"),
        (dict(w0=np.arange(2)), TypeError, "w0 must have dtype"),
        (dict(lr=-0.1), ValueError, "lr must be"),
        (dict(n_steps=-1), ValueError, "n_steps must be"),
        (dict(n_steps=2.5), ValueError, "n_steps must be"),
    ],
)
def test_gradient_descent_bad_inputs(kwargs, exc, match):
    args = dict(grad=lambda w: w, w0=np.zeros(2), lr=0.1, n_steps=3) | kwargs
    with pytest.raises(exc, match=match):
        gradient_descent(**args)


# --- SGD -------------------------------------------------------------------------------------


def _run(opt, p0, grads):
    params = {"w": np.array(p0, dtype=np.float64)}
    out = []
    for g in grads:
        opt.step(params, {"w": np.array(g, dtype=np.float64)})
        out.append(params["w"].copy())
    return np.array(out)


def test_sgd_plain_is_gradient_descent():
    np.testing.assert_allclose(_run(SGD(0.1), [1.0], [[2.0], [4.0]]).ravel(), [0.8, 0.4])


def test_sgd_momentum_hand_computed():
    # g = 1 each step, mu = 0.9: b = 1, 1.9, 2.71; p = 1 - 0.1 * cumsum(b)
    got = _run(SGD(0.1, momentum=0.9), [1.0], [[1.0]] * 3).ravel()
    np.testing.assert_allclose(got, [0.9, 0.71, 0.439], rtol=1e-14)


def test_sgd_nesterov_and_dampening_hand_computed():
    # Nesterov: b = 1 then 1.9; g' = 1 + 0.9 b = 1.9 then 2.71
    got = _run(SGD(0.1, momentum=0.9, nesterov=True), [1.0], [[1.0]] * 2).ravel()
    np.testing.assert_allclose(got, [0.81, 0.539], rtol=1e-14)
    # dampening 0.5: b = 1 (first step is not damped), then 0.9 + 0.5 = 1.4
    got = _run(SGD(0.1, momentum=0.9, dampening=0.5), [1.0], [[1.0]] * 2).ravel()
    np.testing.assert_allclose(got, [0.9, 0.76], rtol=1e-14)


def test_sgd_weight_decay_hand_computed():
    # g = 0 + 0.5 * p: p <- p (1 - 0.1 * 0.5)
    got = _run(SGD(0.1, weight_decay=0.5), [2.0], [[0.0]] * 3).ravel()
    np.testing.assert_allclose(got, 2.0 * 0.95 ** np.arange(1, 4), rtol=1e-14)


# --- Adam / AdamW ----------------------------------------------------------------------------


def test_adam_first_step_moves_by_lr_times_sign():
    # m_hat = g, v_hat = g^2 on step 1, so the step is lr * g / (|g| + eps)
    g = np.array([3.0, -0.02, 1e-3])
    got = _run(Adam(lr=0.01, eps=1e-8), np.zeros(3), [g])[0]
    np.testing.assert_allclose(got, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adam_second_step_hand_computed():
    b1, b2, lr, eps = 0.9, 0.99, 0.1, 1e-8
    g1, g2 = 1.0, -2.0
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    step2 = lr / (1 - b1**2) * m / (math.sqrt(v) / math.sqrt(1 - b2**2) + eps)
    want = -lr * g1 / (abs(g1) + eps) - step2
    got = _run(Adam(lr, betas=(b1, b2), eps=eps), [0.0], [[g1], [g2]])[-1, 0]
    assert got == pytest.approx(want, rel=1e-14)


def test_adamw_decay_is_decoupled_adam_decay_is_not():
    # zero gradient: AdamW only shrinks p by (1 - lr wd); Adam feeds wd p into the moments
    got = _run(AdamW(lr=0.1, weight_decay=0.5), [2.0], [[0.0]] * 2).ravel()
    np.testing.assert_allclose(got, [2.0 * 0.95, 2.0 * 0.95**2], rtol=1e-15)
    got = _run(Adam(lr=0.1, weight_decay=0.5), [2.0], [[0.0]]).ravel()
    np.testing.assert_allclose(got, [2.0 - 0.1], rtol=1e-7)  # first Adam step ~ lr sign(g)


def test_amsgrad_uses_max_of_second_moment():
    g = [[10.0], [0.0], [0.0]]
    a = _run(Adam(0.1, amsgrad=False), [0.0], g)
    b = _run(Adam(0.1, amsgrad=True), [0.0], g)
    np.testing.assert_array_equal(a[0], b[0])
    # later steps: same m, larger v_hat with AMSGrad, so smaller moves
    assert abs(b[2, 0] - b[1, 0]) < abs(a[2, 0] - a[1, 0])


# --- shared behaviour ------------------------------------------------------------------------

OPTIMIZERS = [
    lambda: SGD(0.1),
    lambda: SGD(0.1, momentum=0.9, weight_decay=0.1),
    lambda: Adam(0.1, weight_decay=0.1),
    lambda: AdamW(0.1),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_step_updates_in_place_and_leaves_grads(make, rng):
    w = rng.normal(size=(3, 2)).astype(np.float32)
    g = rng.normal(size=(3, 2)).astype(np.float32)
    params, grads, g0, w0 = {"w": w}, {"w": g}, g.copy(), w.copy()
    opt = make()
    opt.step(params, grads)
    opt.step(params, grads)
    assert params["w"] is w and w.dtype == np.float32
    np.testing.assert_array_equal(g, g0)
    assert np.all(w != w0)  # the caller's own array moved


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_float64_grad_on_float32_param_stays_float32(make):
    w = np.ones(3, dtype=np.float32)
    make().step({"w": w}, {"w": np.ones(3)})
    assert w.dtype == np.float32 and np.all(w < 1)


@pytest.mark.parametrize("make", OPTIMIZERS[1:])
def test_zero_state_restarts(make):
    opt = make()
    a = _run(opt, [1.0], [[1.0]])
    opt.zero_state()
    assert opt.state == {}
    np.testing.assert_array_equal(_run(opt, [1.0], [[1.0]]), a)


@pytest.mark.parametrize(
    "params, grads, exc, match",
    [
        ({"w": np.zeros(2)}, {}, ValueError, "missing \\['w'\\]"),
        ({"w": np.zeros(2)}, {"w": np.zeros(2), "b": np.zeros(1)}, ValueError, "unexpected"),
        ({"w": np.zeros(2)}, {"w": np.zeros(3)}, ValueError, "grads\\['w'\\] must have the shape"),
        ({"w": np.zeros(2)}, {"w": np.array([0.0, np.nan])}, ValueError, "contains NaN"),
        ({"w": np.zeros(2)}, {"w": np.zeros(2, dtype=int)}, TypeError, "grads\\['w'\\]"),
        ({"w": [0.0]}, {"w": np.zeros(1)}, TypeError, "params\\['w'\\] must be an ndarray"),
        ([np.zeros(2)], {"w": np.zeros(2)}, TypeError, "params must be a dict"),
    ],
)
def test_step_bad_inputs(params, grads, exc, match):
    with pytest.raises(exc, match=match):
        SGD(0.1).step(params, grads)


def test_failed_step_changes_nothing():
    params = {"a": np.ones(2), "b": np.ones(2)}
    opt = Adam(0.1)
    with pytest.raises(ValueError, match="grads\\['b'\\]"):
        opt.step(params, {"a": np.ones(2), "b": np.ones(3)})
    np.testing.assert_array_equal(params["a"], 1.0)
    assert opt.state == {}


def test_read_only_param_rejected():
    w = np.zeros(2)
    w.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        SGD(0.1).step({"w": w}, {"w": np.zeros(2)})


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: SGD(-1.0), ValueError, "lr"),
        (lambda: SGD(0.1, momentum=-0.5), ValueError, "momentum"),
        (lambda: SGD(0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: SGD(0.1, nesterov=1), TypeError, "nesterov"),
        (lambda: Adam(0.1, betas=(1.0, 0.9)), ValueError, "betas\\[0\\]"),
        (lambda: Adam(0.1, betas=(0.9, -0.1)), ValueError, "betas\\[1\\]"),
        (lambda: Adam(0.1, betas=0.9), TypeError, "betas"),
        (lambda: Adam(0.1, eps=-1.0), ValueError, "eps"),
        (lambda: AdamW(0.1, weight_decay=float("nan")), ValueError, "weight_decay"),
        (lambda: Adam(0.1, amsgrad="yes"), TypeError, "amsgrad"),
    ],
)
def test_constructor_bad_inputs(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_lr_setter_validates_and_keeps_python_float():
    opt = SGD(0.1)
    opt.lr = np.float64(0.5)
    assert type(opt.lr) is float
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1


# --- schedules -------------------------------------------------------------------------------


def test_step_lr_hand_computed():
    opt = SGD(1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = [opt.lr] + [sched.step() for _ in range(5)]
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert opt.lr == 0.25


def test_cosine_annealing_hand_computed():
    opt = SGD(1.0)
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.2)
    lrs = [opt.lr] + [sched.step() for _ in range(8)]
    c = (1 + math.cos(math.pi / 4)) / 2  # epoch 1 of 4
    want = [1.0, 0.2 + 0.8 * c, 0.6, 0.2 + 0.8 * (1 - c), 0.2, 0.2 + 0.8 * (1 - c), 0.6]
    np.testing.assert_allclose(lrs[:7], want, rtol=1e-15)
    assert lrs[8] == pytest.approx(1.0)  # a full period later it is back at the base rate


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda o: StepLR(o, step_size=0), ValueError, "step_size"),
        (lambda o: StepLR(o, step_size=1.5), TypeError, "step_size"),
        (lambda o: StepLR(o, step_size=1, gamma=-1), ValueError, "gamma"),
        (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
        (lambda o: CosineAnnealingLR(o, T_max=3, eta_min=-1), ValueError, "eta_min"),
        (lambda o: StepLR("sgd", step_size=1), TypeError, "optimizer"),
    ],
)
def test_schedule_bad_inputs(make, exc, match):
    with pytest.raises(exc, match=match):
        make(SGD(0.1))


# --- a step is all or nothing (issue 17, item 12) --------------------------------------------


def _four_params(seed=0):
    rng = np.random.default_rng(seed)
    params = {f"p{i}": rng.normal(size=(3, 2)).astype(np.float32) for i in range(4)}
    grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
    return params, grads


def _state_copy(opt):
    return {k: {n: np.copy(v) for n, v in s.items()} for k, s in opt.state.items()}


def _interrupt_on_call(fn, n, action):
    calls = [0]

    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            action()
        return fn(*args, **kwargs)

    return wrapped


def _raise_interrupt():
    raise KeyboardInterrupt


MAKERS = {"Adam": lambda: Adam(0.1), "AdamW amsgrad": lambda: AdamW(0.1, amsgrad=True)}


@pytest.mark.parametrize("make", list(MAKERS))
@pytest.mark.parametrize("at_param", [1, 2, 3, 4])
def test_an_interrupt_while_computing_a_step_changes_nothing(monkeypatch, make, at_param):
    # before: Ctrl-C while Adam updated the 4th of 4 parameters left the step counts at
    # 5, 5, 5, 4 with three parameters and their moments updated and one not
    params, grads = _four_params()
    ref_params, _ = _four_params()
    opt, ref = MAKERS[make](), MAKERS[make]()
    for _ in range(4):
        opt.step(params, grads)
        ref.step(ref_params, grads)
    before_params, before_state = {k: v.copy() for k, v in params.items()}, _state_copy(opt)
    # every update rule takes one square root per parameter: interrupt the at_param-th
    monkeypatch.setattr(np, "sqrt", _interrupt_on_call(np.sqrt, at_param, _raise_interrupt))
    with pytest.raises(KeyboardInterrupt):
        opt.step(params, grads)
    monkeypatch.undo()
    assert [s["step"] for s in opt.state.values()] == [4, 4, 4, 4]
    for k in params:
        np.testing.assert_array_equal(params[k], before_params[k])
        for name, v in before_state[k].items():
            np.testing.assert_array_equal(opt.state[k][name], v)
    opt.step(params, grads)  # the next step is the one that was interrupted, exactly
    ref.step(ref_params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], ref_params[k])


@pytest.fixture
def sigint_as_in_a_terminal():
    """Python's own SIGINT handler for the test, whatever this process inherited: a job that a
    non-interactive shell starts in the background (``cmd &``) runs with SIGINT ignored, and
    then no Ctrl-C reaches Python at all, held back or not. Given back afterwards."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9)])
def test_ctrl_c_while_committing_a_step_arrives_after_it(monkeypatch, make,
                                                         sigint_as_in_a_terminal):  # fmt: skip
    # SIGINT sent while the new values are being copied in: the step finishes, then the
    # KeyboardInterrupt is raised (before the fix there was no separate commit phase: a
    # signal between two parameters' updates left them a step apart)
    import os
    import signal

    params, grads = _four_params()
    ref_params, _ = _four_params()
    opt, ref = make(), make()
    opt.step(params, grads)
    ref.step(ref_params, grads)
    ref.step(ref_params, grads)
    send = lambda: os.kill(os.getpid(), signal.SIGINT)
    # the commit phase copies each new value in with np.copyto: the signal comes on the second
    monkeypatch.setattr(np, "copyto", _interrupt_on_call(np.copyto, 2, send))
    with pytest.raises(KeyboardInterrupt):
        opt.step(params, grads)
    monkeypatch.undo()
    for k in params:
        np.testing.assert_array_equal(params[k], ref_params[k])
    if isinstance(opt, Adam):
        assert [s["step"] for s in opt.state.values()] == [2, 2, 2, 2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
