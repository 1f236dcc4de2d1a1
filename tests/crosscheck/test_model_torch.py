"""Sequential against torch.nn.Sequential: same weights in, same outputs, gradients and
training curves out (float32 and float64)."""

import numpy as np
import pytest

from minidl.gradcheck import rel_error
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm2D
from minidl.layers.conv import Conv2D, Conv2Plus1D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.optim import SGD, Adam

torch = pytest.importorskip("torch")
nn = torch.nn

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
# float64: round-off of a few thousand operations; float32: the same at float32's epsilon
TOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]


def cnn_pair(dtype, seed=0):
    """Conv2d-BatchNorm2d-ReLU-MaxPool-Flatten-Linear in both libraries, same weights."""
    torch.manual_seed(seed)
    tnet = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
    ).to(TORCH_DTYPE[dtype])  # fmt: skip
    with torch.no_grad():  # non-default BatchNorm state, so loading it is really tested
        tnet[1].weight.uniform_(0.5, 1.5)
        tnet[1].bias.uniform_(-0.5, 0.5)
        tnet[1].running_mean.uniform_(-0.2, 0.2)
        tnet[1].running_var.uniform_(0.5, 2.0)
    model = Sequential([
        Conv2D(1, 4, 3, padding=1, dtype=dtype), BatchNorm2D(4, dtype=dtype), ReLU(),
        MaxPool2D(2), Flatten(), Dense(4 * 4 * 4, 3, dtype=dtype),
    ])  # fmt: skip
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in tnet.state_dict().items()})
    return model, tnet


def batch(rng, dtype, n=8):
    return rng.normal(size=(n, 1, 8, 8)).astype(dtype), rng.integers(0, 3, size=n)


def torch_grads(tnet, x, y):
    xt = torch.tensor(x, requires_grad=True)
    out = tnet(xt)
    loss = nn.functional.cross_entropy(out, torch.tensor(y))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in tnet.named_parameters()}
    return out.detach().numpy(), loss.item(), xt.grad.numpy(), grads


def test_state_dict_keys_match_torch():
    model, tnet = cnn_pair(np.float32)
    assert list(model.state_dict()) == list(tnet.state_dict())  # num_batches_tracked too
    assert list(model.params) == [k for k, _ in tnet.named_parameters()]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnn_forward_backward_match_torch(rng, dtype):
    model, tnet = cnn_pair(dtype)
    x, y = batch(rng, dtype)
    t_out, t_loss, t_dx, t_grads = torch_grads(tnet.train(), x, y)
    crit = CrossEntropyLoss()
    out = model.train()(x)
    loss = crit(out, y)
    dx = model.backward(crit.backward())
    errors = {"out": rel_error(out, t_out), "loss": abs(loss - t_loss) / t_loss}
    errors["dx"] = rel_error(dx, t_dx)
    # all parameter gradients as one vector: the conv bias feeding BatchNorm has an exactly
    # zero gradient (BN removes any per-channel shift), so alone it is pure round-off in both
    flat = lambda d: np.concatenate([d[k].ravel() for k in model.params])
    errors["params"] = rel_error(flat(model.grads), flat(t_grads))
    assert np.max(np.abs(model.grads["0.bias"])) <= 1e3 * np.finfo(dtype).eps
    # the training forward updated the running statistics the same way
    errors |= {k: rel_error(v, tnet.state_dict()[k].numpy()) for k, v in model.buffers.items()}
    assert max(errors.values()) <= TOL[dtype], errors
    assert out.dtype == dx.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnn_eval_mode_matches_torch(rng, dtype):
    model, tnet = cnn_pair(dtype)
    x, _ = batch(rng, dtype)
    with torch.no_grad():
        want = tnet.eval()(torch.tensor(x)).numpy()
    assert rel_error(model.predict(x), want) <= TOL[dtype]
    assert rel_error(model.eval()(x), want) <= TOL[dtype]


def test_minidl_state_loads_into_torch(rng):
    model, _ = cnn_pair(np.float32, seed=1)
    _, tnet = cnn_pair(np.float32, seed=2)
    # strict: every key, num_batches_tracked included (an int64 scalar, as PyTorch's)
    tnet.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    x, _ = batch(rng, np.float32)
    with torch.no_grad():
        want = tnet.eval()(torch.tensor(x)).numpy()
    assert rel_error(model.predict(x), want) <= 1e-5


class TorchR2Plus1D(nn.Module):
    """PyTorch's (2+1)-D block with the submodule names minidl's Conv2Plus1D uses."""

    def __init__(self, cin, cout, mid, t, k):
        super().__init__()
        self.spatial = nn.Conv3d(cin, mid, (1, k, k))
        self.temporal = nn.Conv3d(mid, cout, (t, 1, 1))

    def forward(self, x):
        return self.temporal(torch.relu(self.spatial(x)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_composite_layer_dotted_keys_match_torch(rng, dtype):
    torch.manual_seed(0)
    tnet = nn.Sequential(TorchR2Plus1D(2, 3, 4, 2, 3), nn.Flatten(), nn.Linear(3 * 3 * 2 * 2, 2))
    tnet = tnet.to(TORCH_DTYPE[dtype])
    model = Sequential([
        Conv2Plus1D(2, 3, (2, 3, 3), mid_channels=4, dtype=dtype), Flatten(),
        Dense(3 * 3 * 2 * 2, 2, dtype=dtype),
    ])  # fmt: skip
    assert list(model.state_dict()) == list(tnet.state_dict())  # '0.spatial.weight', ...
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in tnet.state_dict().items()})
    x = rng.normal(size=(3, 2, 4, 4, 4)).astype(dtype)
    y = rng.integers(0, 2, size=3)
    t_out, _, t_dx, t_grads = torch_grads(tnet, x, y)
    crit = CrossEntropyLoss()
    out = model(x)
    crit(out, y)
    dx = model.backward(crit.backward())
    assert rel_error(out, t_out) <= TOL[dtype]
    assert rel_error(dx, t_dx) <= TOL[dtype]
    for k, g in model.grads.items():
        assert rel_error(g, t_grads[k]) <= TOL[dtype], k


# --- 20 training steps: the same loss curve --------------------------------------------------

OPTIMIZERS = {
    "sgd-momentum": (
        lambda: SGD(0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "adam": (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
}


def loss_curves(opt_name, dtype, steps=20, seed=0):
    model, tnet = cnn_pair(dtype)
    make_ours, make_theirs = OPTIMIZERS[opt_name]
    opt, topt = make_ours(), make_theirs(tnet.parameters())
    data = np.random.default_rng(seed)
    batches = [batch(data, dtype, n=16) for _ in range(steps)]
    ours, theirs = [], []
    crit = CrossEntropyLoss()
    for x, y in batches:
        ours.append(crit(model(x), y))
        model.backward(crit.backward())
        opt.step(model.params, model.grads)
        topt.zero_grad()
        loss = nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        topt.step()
        theirs.append(loss.item())
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_training_loss_curve_matches_torch(opt_name, dtype):
    ours, theirs = loss_curves(opt_name, dtype)
    assert theirs[-1] < 0.9 * theirs[0]  # the curve really moves (no trivially equal flats)
    # round-off grows a little with each step; still float32 precision after 20 of them
    np.testing.assert_allclose(ours, theirs, rtol={np.float32: 5e-6, np.float64: 1e-10}[dtype])


def test_torch_state_dict_loads_directly(rng):
    # CPU tensors convert through numpy.asarray; num_batches_tracked is loaded too
    model, tnet = cnn_pair(np.float32, seed=3)
    other, _ = cnn_pair(np.float32, seed=4)
    other.load_state_dict(tnet.state_dict())
    x, _ = batch(rng, np.float32)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
