"""Distillation loss and gradient against PyTorch autograd; BatchNorm folding against
torch.nn.utils.fusion.fuse_conv_bn_eval / fuse_linear_bn_eval."""

import numpy as np
import pytest

from minidl.compression.distillation import DistillationLoss
from minidl.compression.fold import fold_batchnorm
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense

torch = pytest.importorskip("torch")
F = torch.nn.functional
fusion = pytest.importorskip("torch.nn.utils.fusion")


@pytest.mark.parametrize("dt, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (4.0, 0.9), (20.0, 0.3)])
def test_distillation_loss_and_grad_vs_torch(rng, dt, tol, T, alpha):
    s = (rng.normal(size=(8, 10)) * 3).astype(dt)
    t = (rng.normal(size=(8, 10)) * 3).astype(dt)
    y = rng.integers(0, 10, 8)
    crit = DistillationLoss(T, alpha)
    loss = crit(s, (t, y))
    grad = crit.backward()
    st = torch.tensor(s, requires_grad=True)
    tt = torch.tensor(t)
    kl = F.kl_div(F.log_softmax(st / T, dim=1), F.softmax(tt / T, dim=1), reduction="batchmean")
    ref = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(st, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=tol, abs=tol)
    # the soft term's gradient alpha T (p_s - p_t) / N subtracts close probabilities and
    # multiplies by T, so its float32 error is absolute: ~T * eps32 * max p (3.7e-8 seen at T=20)
    scale = np.abs(st.grad.numpy()).max()
    np.testing.assert_allclose(grad, st.grad.numpy(), rtol=tol * 10, atol=tol * T * scale)


def _bn_stats(bn_m, bn_t, rng, dt):
    c = bn_m.num_features
    vals = {
        "running_mean": rng.normal(size=c),
        "running_var": rng.uniform(0.1, 3, c),
        "weight": rng.normal(size=c),
        "bias": rng.normal(size=c),
    }
    for k, v in vals.items():
        (bn_m.buffers if k.startswith("running") else bn_m.params)[k][...] = v.astype(dt)
        with torch.no_grad():
            getattr(bn_t, k).copy_(torch.from_numpy(v.astype(dt)))
    bn_t.eval()
    bn_m.eval()


@pytest.mark.parametrize(
    "dt, tdt, tol", [(np.float64, torch.float64, 1e-13), (np.float32, torch.float32, 1e-6)]
)
@pytest.mark.parametrize("bias", [True, False])
def test_fold_conv_bn_vs_torch(rng, dt, tdt, tol, bias):
    conv = Conv2D(3, 5, 3, padding=1, bias=bias, dtype=dt, rng=rng)
    bn = BatchNorm2D(5, dtype=dt)
    tconv = torch.nn.Conv2d(3, 5, 3, padding=1, bias=bias, dtype=tdt)
    tbn = torch.nn.BatchNorm2d(5, dtype=tdt)
    tconv.load_state_dict({k: torch.from_numpy(v) for k, v in conv.params.items()})
    _bn_stats(bn, tbn, rng, dt)
    tconv.eval()
    fused = fusion.fuse_conv_bn_eval(tconv, tbn)
    ours = fold_batchnorm(conv, bn)
    np.testing.assert_allclose(ours.params["weight"], fused.weight.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours.params["bias"], fused.bias.detach().numpy(), rtol=tol, atol=tol)
    x = rng.normal(size=(2, 3, 6, 6)).astype(dt)
    ref = tbn(tconv(torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(ours.forward(x), ref, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize(
    "dt, tdt, tol", [(np.float64, torch.float64, 1e-13), (np.float32, torch.float32, 1e-6)]
)
def test_fold_linear_bn_vs_torch(rng, dt, tdt, tol):
    dense = Dense(6, 4, dtype=dt, rng=rng)
    bn = BatchNorm1D(4, dtype=dt)
    lin = torch.nn.Linear(6, 4, dtype=tdt)
    tbn = torch.nn.BatchNorm1d(4, dtype=tdt)
    lin.load_state_dict({k: torch.from_numpy(v) for k, v in dense.params.items()})
    _bn_stats(bn, tbn, rng, dt)
    lin.eval()
    fused = fusion.fuse_linear_bn_eval(lin, tbn)
    ours = fold_batchnorm(dense, bn)
    np.testing.assert_allclose(ours.params["weight"], fused.weight.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours.params["bias"], fused.bias.detach().numpy(), rtol=tol, atol=tol)
