"""Article 003's CNN trained in minidl and in PyTorch from the same weights on the same batches.

The PyTorch net is ``nn.Sequential`` with the same layers in the same order, so minidl's
``state_dict`` keys ('0.weight', '3.weight', '7.weight', '9.weight' ...) load into it as they
are. Twenty steps of SGD with momentum and of Adam on fixed MNIST batches must give the same
loss curve and the same final weights. In float64 the two agree to ~1e-12 (rounding only); in
float32 the two libraries sum in different orders, so the curves agree to float32 precision
(measured: losses within 5e-7 relative, weights within 1e-5 of their largest entry after SGD
and 4e-4 after Adam, whose update m / (sqrt(v) + eps) divides a rounding difference in a
near-zero gradient by that gradient's own tiny size).
"""

import numpy as np
import pytest

from minidl.datasets import load_mnist_t10k_split
from minidl.nn import zoo
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import SGD, Adam

torch = pytest.importorskip("torch")
nn = torch.nn

STEPS, BATCH = 20, 32


def torch_article003(dtype):
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    return net.to(dtype)


@pytest.fixture(scope="module")
def batches():
    (X, y), _ = load_mnist_t10k_split()
    order = np.random.default_rng(5).permutation(len(y))[: STEPS * BATCH]
    return X[order].reshape(STEPS, BATCH, 1, 28, 28), y[order].reshape(STEPS, BATCH)


def run_both(batches, optimizer, dtype):
    X, y = batches
    X = X.astype(dtype)
    model = zoo.article003_cnn(rng=np.random.default_rng(0), dtype=dtype)
    net = torch_article003(torch.float64 if dtype == np.float64 else torch.float32)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    if optimizer == "sgd":
        ours = SGD(0.05, momentum=0.9)
        theirs = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9)
    else:
        ours, theirs = Adam(1e-3), torch.optim.Adam(net.parameters(), 1e-3)
    crit = CrossEntropyLoss()
    losses, ref = [], []
    for xb, yb in zip(X, y, strict=True):
        losses.append(crit(model(xb), yb))
        model.backward(crit.backward())
        ours.step(model.params, model.grads)
        theirs.zero_grad()
        loss = nn.functional.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        theirs.step()
        ref.append(loss.item())
    final = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return np.array(losses), np.array(ref), model.state_dict(), final


# (dtype, optimizer, loss rtol, weight tolerance relative to the tensor's largest entry)
CASES = [
    (np.float32, "sgd", 1e-5, 1e-4),
    (np.float32, "adam", 1e-5, 2e-3),
    (np.float64, "sgd", 1e-12, 1e-11),
    (np.float64, "adam", 1e-12, 1e-10),
]


@pytest.mark.parametrize("dtype,optimizer,loss_rtol,weight_tol", CASES)
def test_same_loss_curve_as_pytorch(batches, dtype, optimizer, loss_rtol, weight_tol):
    losses, ref, ours, theirs = run_both(batches, optimizer, dtype)
    assert losses[-1] < 0.8 * losses[0]  # the 20 steps do train: the curves are not flat
    np.testing.assert_allclose(losses, ref, rtol=loss_rtol, atol=0)
    for k, v in ours.items():
        assert v.dtype == dtype
        scale = np.abs(theirs[k]).max()
        np.testing.assert_allclose(v, theirs[k], rtol=0, atol=weight_tol * scale, err_msg=k)
