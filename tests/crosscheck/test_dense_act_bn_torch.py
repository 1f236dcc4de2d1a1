"""Dense, activations, dropout scaling and batch norm against PyTorch (forward and autograd).

Tolerances: float64 rtol 1e-10 (both sides are exact up to round-off, so the gap is ~1e-15);
float32 rtol 1e-4 with an absolute floor of 1e-5 times the array's scale, since entries that
cancel to ~0 (batch norm's dx, softmax tails) carry float32 round-off of the *inputs'* size.
"""

import numpy as np
import pytest

from minidl.functional import activations as A
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.dense import dense_backward, dense_forward
from minidl.functional.dropout import dropout
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D, BatchNorm3D
from minidl.layers.dense import Dense

torch = pytest.importorskip("torch")
F = torch.nn.functional
DTYPES = [np.float32, np.float64]


def assert_close(ours, theirs, dtype):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.dtype == theirs.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    else:
        scale = max(float(np.abs(theirs).max()), 1e-30)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * scale)


def _t(a):
    return torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,fin,fout", [(1, 3, 2), (16, 20, 7), (5, 64, 33)])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_matches_linear(rng, dtype, n, fin, fout, bias):
    x, w = rng.normal(size=(n, fin)).astype(dtype), rng.normal(size=(fout, fin)).astype(dtype)
    b = rng.normal(size=fout).astype(dtype) if bias else None
    dy = rng.normal(size=(n, fout)).astype(dtype)
    xt, wt = _t(x), _t(w)
    bt = _t(b) if bias else None
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(dy))
    y, cache = dense_forward(x, w, b)
    assert_close(y, yt, dtype)
    dx, dw, db = dense_backward(dy, cache)
    assert_close(dx, xt.grad, dtype)
    assert_close(dw, wt.grad, dtype)
    if bias:
        assert_close(db, bt.grad, dtype)


ELEMENTWISE = [
    ("relu", A.relu_forward, A.relu_backward, F.relu),
    (
        "leaky_relu",
        lambda x: A.leaky_relu_forward(x, 0.2),
        A.leaky_relu_backward,
        lambda t: F.leaky_relu(t, 0.2),
    ),
    ("sigmoid", A.sigmoid_forward, A.sigmoid_backward, torch.sigmoid),
    ("tanh", A.tanh_forward, A.tanh_backward, torch.tanh),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fwd,bwd,ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_activations(rng, dtype, name, fwd, bwd, ref):
    x = (rng.normal(size=(4, 3, 5)) * 4).astype(dtype)
    x[0, 0, :3] = [-1000, 1000, 0.0]  # the extremes and the kink, same convention as torch
    dy = rng.normal(size=x.shape).astype(dtype)
    xt = _t(x)
    yt = ref(xt)
    yt.backward(torch.tensor(dy))
    y, cache = fwd(x)
    assert_close(y, yt, dtype)
    assert_close(bwd(dy, cache).dx, xt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((6, 10), 1), ((2, 5, 3, 3), 1), ((3, 4, 7), -1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_and_log_softmax(rng, dtype, shape, axis, log):
    x = (rng.normal(size=shape) * 5).astype(dtype)
    x.flat[:2] = [1000, -1000]
    dy = rng.normal(size=shape).astype(dtype)
    xt = _t(x)
    yt = (F.log_softmax if log else F.softmax)(xt, dim=axis)
    yt.backward(torch.tensor(dy))
    fwd, bwd = (
        (A.log_softmax_forward, A.log_softmax_backward) if log
        else (A.softmax_forward, A.softmax_backward)
    )  # fmt: skip
    y, cache = fwd(x, axis=axis)
    assert_close(y, yt, dtype)
    assert_close(bwd(dy, cache).dx, xt.grad, dtype)


def test_dropout_scaling_convention_matches_torch():
    # masks differ (different generators) but the surviving value must be the same 1/(1-p)
    x = np.ones(10_000)
    ours = dropout(x, 0.3, rng=np.random.default_rng(0))
    theirs = F.dropout(torch.tensor(x), 0.3, training=True).numpy()
    np.testing.assert_allclose(np.unique(ours), np.unique(theirs), rtol=1e-15)
    np.testing.assert_array_equal(
        dropout(x, 0.3, training=False), F.dropout(torch.tensor(x), 0.3, training=False)
    )


BN_SHAPES = [(8, 3), (4, 3, 6), (3, 4, 5, 5), (2, 3, 3, 4, 4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_forward_backward(rng, dtype, shape, training):
    c = shape[1]
    x = (rng.normal(size=shape) * 3 + 2).astype(dtype)
    w, b = rng.normal(size=c).astype(dtype), rng.normal(size=c).astype(dtype)
    rm, rv = rng.normal(size=c).astype(dtype), rng.uniform(0.5, 2, size=c).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    xt, wt, bt = _t(x), _t(w), _t(b)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    yt = F.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.1, eps=1e-5)
    yt.backward(torch.tensor(dy))
    y, cache = batch_norm_forward(x, w, b, rm, rv, training=training, momentum=0.1, eps=1e-5)
    assert_close(y, yt, dtype)
    assert_close(rm, rmt, dtype)  # running statistics updated in place, as torch
    assert_close(rv, rvt, dtype)
    dx, dw, db = batch_norm_backward(dy, cache)
    assert_close(dx, xt.grad, dtype)
    assert_close(dw, wt.grad, dtype)
    assert_close(db, bt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "ours,theirs,shape",
    [
        (BatchNorm2D, torch.nn.BatchNorm2d, (4, 3, 5, 5)),
        (BatchNorm1D, torch.nn.BatchNorm1d, (6, 3, 4)),
        (BatchNorm1D, torch.nn.BatchNorm1d, (10, 3)),
        (BatchNorm3D, torch.nn.BatchNorm3d, (2, 3, 2, 3, 3)),
    ],
)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_running_statistics_after_several_steps(rng, dtype, ours, theirs, shape, momentum):
    c = shape[1]
    layer = ours(c, momentum=momentum, dtype=dtype)
    ref = theirs(
        c, momentum=momentum, dtype=torch.float32 if dtype == np.float32 else torch.float64
    )
    for step in range(5):
        x = (rng.normal(size=shape) * (step + 1) + step).astype(dtype)
        dy = rng.normal(size=shape).astype(dtype)
        xt = _t(x)
        yt = ref(xt)
        yt.backward(torch.tensor(dy))
        assert_close(layer(x), yt, dtype)
        assert_close(layer.backward(dy), xt.grad, dtype)
        assert_close(layer.grads["weight"], ref.weight.grad, dtype)
        ref.weight.grad = None
    assert_close(layer.buffers["running_mean"], ref.running_mean, dtype)
    assert_close(layer.buffers["running_var"], ref.running_var, dtype)
    assert layer.num_batches_tracked == ref.num_batches_tracked.item() == 5
    layer.eval()
    ref.eval()
    x = (rng.normal(size=shape) * 2).astype(dtype)
    assert_close(layer(x), ref(torch.tensor(x)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_state_dict_loads_into_dense(rng, dtype):
    torch.manual_seed(0)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    ref = torch.nn.Linear(12, 5, dtype=tdtype)
    layer = Dense(12, 5, dtype=dtype)
    for name, value in ref.state_dict().items():
        assert layer.params[name].shape == tuple(value.shape)  # same names, same layouts
        layer.params[name][...] = value.numpy()
    x = rng.normal(size=(7, 12)).astype(dtype)
    assert_close(layer(x), ref(torch.tensor(x)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm2d_state_dict_loads(rng, dtype):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    ref = torch.nn.BatchNorm2d(4, dtype=tdtype)
    with torch.no_grad():  # a trained-looking state: non-trivial parameters and buffers
        ref.weight.copy_(torch.tensor(rng.normal(size=4)))
        ref.bias.copy_(torch.tensor(rng.normal(size=4)))
        for _ in range(3):
            ref(torch.tensor(rng.normal(size=(5, 4, 3, 3)) * 2 + 1, dtype=tdtype))
    layer = BatchNorm2D(4, dtype=dtype)
    for name, value in ref.state_dict().items():
        if name == "num_batches_tracked":
            layer.num_batches_tracked = int(value)
            continue
        target = layer.params if name in layer.params else layer.buffers
        assert target[name].shape == tuple(value.shape)
        target[name][...] = value.numpy()
    x = (rng.normal(size=(3, 4, 4, 4)) * 2).astype(dtype)
    ref.eval()
    layer.eval()
    assert_close(layer(x), ref(torch.tensor(x)), dtype)


@pytest.mark.parametrize("how", ["save/load", "torch state_dict"])
def test_cumulative_average_continues_exactly_after_a_reload(tmp_path, how):
    """Issue 17, item 4: with momentum=None the running estimates are the average over all
    batches (factor 1/num_batches_tracked). The count was neither saved nor read from a
    PyTorch state_dict, so a reloaded layer weighted its next batch 1 instead of 1/6. Now
    5 batches, a reload (minidl's file, or PyTorch's state_dict into a fresh model), and a
    6th batch give PyTorch's running statistics after 6 batches (float64: to 1e-12)."""
    from minidl.nn.model import Sequential

    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(8, 3)) * (i + 1) + i for i in range(6)]
    ref = torch.nn.BatchNorm1d(3, momentum=None, dtype=torch.float64)
    model = Sequential([BatchNorm1D(3, momentum=None, dtype=np.float64)])
    for x in batches[:5]:
        ref(torch.tensor(x))
        model(x)
    if how == "save/load":
        model.save(tmp_path / "bn.npz")
        reloaded = Sequential.load(tmp_path / "bn.npz")
    else:
        reloaded = Sequential([BatchNorm1D(3, momentum=None, dtype=np.float64)])
        reloaded.load_state_dict({f"0.{k}": v for k, v in ref.state_dict().items()})
    assert reloaded.layers[0].num_batches_tracked == 5
    ref(torch.tensor(batches[5]))
    reloaded(batches[5])
    layer = reloaded.layers[0]
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(layer.buffers[name], getattr(ref, name).numpy(), rtol=1e-12)
    assert layer.num_batches_tracked == int(ref.num_batches_tracked) == 6
