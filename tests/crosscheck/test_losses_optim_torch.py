"""Losses and optimizers against PyTorch: same inputs, same numbers (float32 and float64)."""

import numpy as np
import pytest

from minidl.gradcheck import rel_error
from minidl.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from minidl.optim import SGD, Adam, AdamW, CosineAnnealingLR, StepLR

torch = pytest.importorskip("torch")
F = torch.nn.functional

# float64 agrees to round-off; float32 to a few ulps of the values involved.
TOL = {np.float32: 2e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _torch_loss_and_grad(fn, z, *args):
    zt = torch.tensor(z, requires_grad=True)
    loss = fn(zt, *args)
    loss.backward()
    return loss.item(), zt.grad.numpy()


# --- losses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7])
def test_cross_entropy_matches_torch(rng, dtype, eps):
    z = (rng.normal(size=(16, 7)) * 4).astype(dtype)
    y = rng.integers(0, 7, size=16)
    crit = CrossEntropyLoss(label_smoothing=eps)
    loss = crit(z, y)
    want, want_grad = _torch_loss_and_grad(
        lambda t: F.cross_entropy(t, torch.tensor(y), label_smoothing=eps), z
    )
    assert abs(loss - want) <= TOL[dtype] * abs(want)
    assert rel_error(crit.backward(), want_grad) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_extreme_logits_match_torch(dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    y = np.array([1, 2])
    crit = CrossEntropyLoss()
    loss = crit(z, y)
    want, want_grad = _torch_loss_and_grad(lambda t: F.cross_entropy(t, torch.tensor(y)), z)
    assert abs(loss - want) <= TOL[dtype] * abs(want)
    assert rel_error(crit.backward(), want_grad) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_matches_torch(rng, dtype):
    x = rng.normal(size=(6, 5)).astype(dtype)
    t = rng.normal(size=(6, 5)).astype(dtype)
    crit = MSELoss()
    loss = crit(x, t)
    want, want_grad = _torch_loss_and_grad(lambda a: F.mse_loss(a, torch.tensor(t)), x)
    assert abs(loss - want) <= TOL[dtype] * abs(want)
    assert rel_error(crit.backward(), want_grad) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_matches_torch(rng, dtype):
    z = (rng.normal(size=(6, 5)) * 5).astype(dtype)
    z[0, :3] = [1000.0, -1000.0, 0.0]
    t = rng.uniform(size=(6, 5)).astype(dtype)
    crit = BCEWithLogitsLoss()
    loss = crit(z, t)
    want, want_grad = _torch_loss_and_grad(
        lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(t)), z
    )
    assert abs(loss - want) <= TOL[dtype] * abs(want)
    assert rel_error(crit.backward(), want_grad) <= TOL[dtype]


# --- optimizers ------------------------------------------------------------------------------

# (minidl factory, torch factory): the same hyper-parameters in both libraries
OPTIMIZER_PAIRS = {
    "sgd": (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum-wd": (
        lambda: SGD(0.05, momentum=0.9, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
    ),
    "sgd-dampening": (
        lambda: SGD(0.05, momentum=0.8, dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
    ),
    "sgd-nesterov": (
        lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    ),
    "adam": (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-wd-amsgrad": (
        lambda: Adam(0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True),
        lambda p: torch.optim.Adam(
            p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True
        ),
    ),
    "adamw": (lambda: AdamW(0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "adamw-wd": (
        lambda: AdamW(0.03, betas=(0.85, 0.99), weight_decay=0.2),
        lambda p: torch.optim.AdamW(p, lr=0.03, betas=(0.85, 0.99), weight_decay=0.2),
    ),
}

SCHEDULE_PAIRS = {
    None: (None, None),
    "step": (
        lambda o: StepLR(o, step_size=2, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    ),
    "cosine": (
        lambda o: CosineAnnealingLR(o, T_max=3, eta_min=0.001),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3, eta_min=0.001),
    ),
}


def _trajectories(opt_name, sched_name, dtype, rng, n_epochs=8, steps_per_epoch=2):
    """Run minidl and PyTorch on the same gradient sequence; return both param histories."""
    shapes = {"0.weight": (4, 3), "0.bias": (4,)}
    p0 = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    gs = [
        {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
        for _ in range(n_epochs * steps_per_epoch)
    ]
    make_ours, make_theirs = OPTIMIZER_PAIRS[opt_name]
    sched_ours, sched_theirs = SCHEDULE_PAIRS[sched_name]
    params = {k: v.copy() for k, v in p0.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in p0.items()}
    opt, topt = make_ours(), make_theirs(list(tparams.values()))
    sched = sched_ours(opt) if sched_ours else None
    tsched = sched_theirs(topt) if sched_theirs else None
    ours, theirs, lrs = [], [], []
    for i, g in enumerate(gs):
        opt.step(params, g)
        for k, t in tparams.items():
            t.grad = torch.tensor(g[k])
        topt.step()
        ours.append(np.concatenate([v.ravel() for v in params.values()]))
        theirs.append(np.concatenate([t.detach().numpy().ravel() for t in tparams.values()]))
        if (i + 1) % steps_per_epoch == 0 and sched is not None:
            tsched.step()
            lrs.append((sched.step(), topt.param_groups[0]["lr"]))
    assert all(v.dtype == dtype for v in params.values())
    return np.array(ours), np.array(theirs), lrs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt_name", list(OPTIMIZER_PAIRS))
def test_optimizer_matches_torch(rng, opt_name, dtype):
    ours, theirs, _ = _trajectories(opt_name, None, dtype, rng)
    # the parameters move by O(0.1-1) over 16 steps; compare relative to their size
    assert rel_error(ours, theirs) <= {np.float32: 1e-6, np.float64: 1e-12}[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "opt_name, sched_name", [("sgd-momentum-wd", "step"), ("adam", "cosine"), ("adamw", "step")]
)
def test_schedules_match_torch(rng, opt_name, sched_name, dtype):
    ours, theirs, lrs = _trajectories(opt_name, sched_name, dtype, rng)
    ours_lr, theirs_lr = np.array(lrs).T
    np.testing.assert_allclose(ours_lr, theirs_lr, rtol=1e-13, atol=1e-15)
    assert len(set(np.round(ours_lr, 12))) > 2  # the schedule really changed the rate
    assert rel_error(ours, theirs) <= {np.float32: 1e-6, np.float64: 1e-12}[dtype]
