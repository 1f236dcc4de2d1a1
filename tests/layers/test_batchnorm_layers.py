"""BatchNorm1D/2D/3D layers: gradchecks, running statistics, modes, config, bad inputs."""

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers.base import LAYERS
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D, BatchNorm3D

CASES = [
    (BatchNorm1D, (5, 3)),
    (BatchNorm1D, (2, 3, 4)),
    (BatchNorm2D, (2, 3, 3, 2)),
    (BatchNorm2D, (1, 2, 2, 3)),
    (BatchNorm3D, (2, 2, 2, 3, 2)),
    (BatchNorm3D, (1, 3, 2, 2, 2)),
]


def _layer(cls, c, rng, **kw):
    layer = cls(c, dtype=np.float64, **kw)
    if layer.affine:
        layer.params["weight"][...] = rng.normal(size=c)
        layer.params["bias"][...] = rng.normal(size=c)
    if layer.track_running_stats:
        layer.buffers["running_mean"][...] = rng.normal(size=c)
        layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, size=c)
    return layer


@pytest.mark.parametrize("cls,shape", CASES)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck(rng, cls, shape, mode, affine):
    layer = _layer(cls, shape[1], rng, affine=affine)
    layer.train() if mode == "train" else layer.eval()
    errors = check_layer(layer, rng.normal(size=shape) * 2 + 1, rng=rng)
    assert set(errors) == ({"x", "weight", "bias"} if affine else {"x"})
    assert max(errors.values()) < 1e-6


def test_running_statistics_follow_pytorch_convention(rng):
    layer = BatchNorm2D(3, dtype=np.float64)
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = rng.normal(size=(4, 3, 2, 5)) * 3 + 2
        layer(x)
        n = 4 * 2 * 5
        mean = x.mean(axis=(0, 2, 3))
        rm = 0.9 * rm + 0.1 * mean
        rv = 0.9 * rv + 0.1 * x.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(layer.buffers["running_mean"], rm, rtol=1e-13)
    np.testing.assert_allclose(layer.buffers["running_var"], rv, rtol=1e-13)
    assert layer.num_batches_tracked == 4
    # eval uses the buffers and leaves them alone
    layer.eval()
    x = rng.normal(size=(2, 3, 2, 2))
    y = layer(x)
    expected = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_mean"], rm, rtol=1e-13)
    assert layer.num_batches_tracked == 4


def test_momentum_none_is_cumulative_average(rng):
    layer = BatchNorm1D(2, momentum=None, dtype=np.float64)
    means = []
    for _ in range(5):
        x = rng.normal(size=(6, 2)) + rng.normal(size=2)
        means.append(x.mean(axis=0))
        layer(x)
    np.testing.assert_allclose(layer.buffers["running_mean"], np.mean(means, axis=0), rtol=1e-13)


def test_no_running_stats_uses_batch_statistics_in_eval(rng):
    layer = BatchNorm1D(3, track_running_stats=False, dtype=np.float64).eval()
    assert layer.buffers == {}
    x = rng.normal(size=(8, 3)) * 4 + 1
    np.testing.assert_allclose(layer(x).mean(axis=0), 0, atol=1e-13)


def test_defaults_dtype_and_inplace_grads(rng):
    layer = BatchNorm2D(4)
    assert layer.params["weight"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["weight"], 1)
    np.testing.assert_array_equal(layer.params["bias"], 0)
    np.testing.assert_array_equal(layer.buffers["running_mean"], 0)
    np.testing.assert_array_equal(layer.buffers["running_var"], 1)
    assert (layer.eps, layer.momentum, layer.num_features) == (1e-5, 0.1, 4)
    gw = layer.grads["weight"]
    x = rng.normal(size=(2, 4, 3, 3))  # float64 input is cast to float32
    y = layer(x)
    assert y.dtype == np.float32
    dy = rng.normal(size=y.shape)
    dy_copy = dy.copy()
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and layer.grads["weight"] is gw
    np.testing.assert_array_equal(dy, dy_copy)
    assert layer.output_shape((2, 4, 3, 3)) == (2, 4, 3, 3)


@pytest.mark.parametrize(
    "layer",
    [
        BatchNorm1D(3),
        BatchNorm2D(5, eps=1e-3, momentum=None, affine=False, dtype=np.float64),
        BatchNorm3D(2, momentum=0.01, track_running_stats=False),
    ],
)
def test_config_roundtrip(layer):
    cfg = layer.get_config()
    rebuilt = LAYERS[type(layer).__name__](**cfg)
    assert rebuilt.get_config() == cfg
    assert set(rebuilt.params) == set(layer.params)
    assert set(rebuilt.buffers) == set(layer.buffers)
    assert "BatchNorm" not in LAYERS  # the public base is not a layer a model file names


@pytest.mark.parametrize(
    "cls,bad_shape,text",
    [
        (BatchNorm1D, (4,), "must be 2 or 3-dimensional"),
        (BatchNorm1D, (4, 3, 2, 2), "must be 2 or 3-dimensional"),
        (BatchNorm2D, (4, 3, 2), "must be 4-dimensional"),
        (BatchNorm3D, (4, 3, 2, 2), "must be 5-dimensional"),
    ],
)
def test_wrong_ndim(cls, bad_shape, text):
    with pytest.raises(ValueError, match=f"{cls.__name__} input x {text}"):
        cls(3)(np.ones(bad_shape, np.float32))


def test_bad_inputs():
    with pytest.raises(
        ValueError,
        match=r"BatchNorm2D expected input with num_features=3 channels \(N, 3, H, W\), "
        r"got shape \(2, 4, 5, 5\)",
    ):
        BatchNorm2D(3)(np.ones((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"num_features=3 channels \(N, 3\) or \(N, 3, L\)"):
        BatchNorm1D(3)(np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match="BatchNorm1D input x must have dtype.*int64"):
        BatchNorm1D(3)(np.ones((2, 3), np.int64))
    with pytest.raises(TypeError, match="BatchNorm1D input x must have dtype.*float16"):
        BatchNorm1D(3)(np.ones((2, 3), np.float16))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        BatchNorm2D(3)(np.ones((1, 3, 1, 1), np.float32))
    layer = BatchNorm1D(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(np.ones((1, 3), np.float32))
    assert layer.num_batches_tracked == 0  # a rejected batch is not counted
    assert layer.eval()(np.ones((1, 3), np.float32)).shape == (1, 3)  # fine in eval
    with pytest.raises(ValueError, match="num_features must be an integer >= 1"):
        BatchNorm2D(0)
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNorm2D(3, momentum=-0.1)
    with pytest.raises(ValueError, match="eps must be"):
        BatchNorm2D(3, eps=-1e-5)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        BatchNorm2D(3, dtype=np.int32)
    with pytest.raises(RuntimeError, match="BatchNorm3D.backward called before forward"):
        BatchNorm3D(3).backward(np.ones((2, 3, 1, 1, 1)))
    with pytest.raises(ValueError, match="input_shape"):
        BatchNorm2D(3).output_shape((2, 3, 4))
