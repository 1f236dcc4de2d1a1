"""Losses and optimizers against PyTorch: same inputs, same numbers (float32 and float64)."""

import numpy as np
import pytest

from minidl.gradcheck import rel_error
from minidl.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

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
