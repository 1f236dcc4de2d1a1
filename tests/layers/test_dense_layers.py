"""Dense, activation and Flatten layers: gradchecks, contract, config, bad inputs."""

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from minidl.layers.base import LAYERS
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten


@pytest.mark.parametrize("n,fin,fout", [(1, 1, 1), (4, 6, 3), (3, 2, 7), (5, 9, 9)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("init", ["pytorch", "kaiming_uniform", "xavier_normal"])
def test_dense_gradcheck(rng, n, fin, fout, bias, init):
    layer = Dense(fin, fout, bias=bias, init=init, dtype=np.float64, rng=rng)
    errors = check_layer(layer, rng.normal(size=(n, fin)), rng=rng)
    assert set(errors) == ({"x", "weight", "bias"} if bias else {"x", "weight"})
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize(
    "layer", [ReLU(), LeakyReLU(0.3), Sigmoid(), Tanh(), Softmax(), Softmax(axis=-1)]
)
@pytest.mark.parametrize("shape", [(1, 3), (4, 5), (2, 3, 4), (2, 2, 3, 3)])
def test_activation_gradcheck(rng, layer, shape):
    x = rng.normal(size=shape) * 2
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # no central difference across the ReLU kink
    assert check_layer(layer, x, rng=rng)["x"] < 1e-6


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (1, 2, 3, 4), (3, 1, 2, 2, 2)])
def test_flatten(rng, shape):
    x = rng.normal(size=shape)
    layer = Flatten()
    y = layer(x)
    assert y.shape == (shape[0], int(np.prod(shape[1:]))) == layer.output_shape(shape)
    # C order, as torch.flatten(x, 1): element (n, c, h, w) lands at column (c*H + h)*W + w
    np.testing.assert_array_equal(y[-1], x[-1].ravel())
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx, dy.reshape(shape))
    assert check_layer(Flatten(), x, rng=rng)["x"] < 1e-6


def test_dense_pytorch_default_init_bounds(rng):
    layer = Dense(100, 50, rng=rng)
    bound = 1 / np.sqrt(100)
    for name in ("weight", "bias"):
        p = layer.params[name]
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound  # it really spans the interval, not a tiny one
    # kaiming/xavier initializers leave the bias at zero, as Keras does
    assert not Dense(4, 3, init="kaiming_normal", rng=rng).params["bias"].any()


def test_dense_same_seed_same_weights():
    a, b = Dense(5, 4, rng=7), Dense(5, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])


def test_dense_dtype_float32_and_cast(rng):
    layer = Dense(4, 3, rng=rng)
    y = layer(rng.normal(size=(2, 4)))  # float64 input is cast to the float32 params
    assert y.dtype == np.float32
    dx = layer.backward(rng.normal(size=(2, 3)))
    assert dx.dtype == layer.grads["weight"].dtype == np.float32


def test_dense_grads_overwritten_in_place(rng):
    layer = Dense(3, 2, dtype=np.float64, rng=rng)
    gw, gb = layer.grads["weight"], layer.grads["bias"]
    x = rng.normal(size=(4, 3))
    dy = rng.normal(size=(4, 2))
    dy_copy, x_copy = dy.copy(), x.copy()
    layer(x)
    layer.backward(dy)
    layer.backward(dy)  # twice: overwrite, not accumulate
    assert layer.grads["weight"] is gw and layer.grads["bias"] is gb
    np.testing.assert_allclose(gw, dy.T @ x, rtol=1e-14)
    np.testing.assert_allclose(gb, dy.sum(0), rtol=1e-14)
    np.testing.assert_array_equal(dy, dy_copy)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize(
    "layer",
    [
        Dense(3, 4, bias=False, init="xavier_uniform", dtype=np.float64),
        LeakyReLU(0.2),
        Softmax(axis=-1),
        ReLU(),
        Flatten(),
    ],
)
def test_config_roundtrip(layer):
    cfg = layer.get_config()
    rebuilt = LAYERS[type(layer).__name__](**cfg)
    assert rebuilt.get_config() == cfg
    assert {k: (v.shape, v.dtype) for k, v in rebuilt.params.items()} == {
        k: (v.shape, v.dtype) for k, v in layer.params.items()
    }
    if isinstance(layer, Dense):
        assert layer.use_bias is False and "bias" not in layer.params
        assert (layer.in_features, layer.out_features) == (3, 4)


def test_dense_bad_inputs(rng):
    layer = Dense(4, 3)
    with pytest.raises(ValueError, match="in_features=4.*got shape \\(2, 5\\)"):
        layer(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="Dense input x must be 2-dimensional"):
        layer(np.ones((2, 4, 1), np.float32))
    with pytest.raises(TypeError, match="Dense input x must have dtype.*int64"):
        layer(np.ones((2, 4), np.int64))
    with pytest.raises(TypeError, match="Dense input x must have dtype.*float16"):
        layer(np.ones((2, 4), np.float16))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Dense(4, 3).backward(np.ones((2, 3), np.float32))
    layer(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="expected dy of shape \\(2, 3\\)"):
        layer.backward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="in_features must be an integer >= 1"):
        Dense(0, 3)
    with pytest.raises(TypeError, match="out_features"):
        Dense(3, 2.5)
    with pytest.raises(ValueError, match="init must be one of"):
        Dense(3, 2, init="he")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Dense(3, 2, dtype=np.float16)
    with pytest.raises(ValueError, match="input_shape"):
        layer.output_shape((2, 5))


def test_activation_bad_inputs():
    with pytest.raises(TypeError, match="ReLU input x must have dtype.*int64"):
        ReLU()(np.array([[1, 2]]))
    with pytest.raises(RuntimeError, match="Sigmoid.backward called before forward"):
        Sigmoid().backward(np.ones(2))
    t = Tanh()
    t(np.ones((2, 3)))
    with pytest.raises(ValueError, match="Tanh.backward expected dy of shape \\(2, 3\\)"):
        t.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match="negative_slope"):
        LeakyReLU("a")
    with pytest.raises(TypeError, match="axis must be an int"):
        Softmax(axis=1.0)
    with pytest.raises(ValueError, match="softmax: axis must be in"):
        Softmax(axis=3)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="Flatten input x must be at least 2-dimensional"):
        Flatten()(np.ones(3))


def test_activations_keep_dtype(rng):
    for layer in (ReLU(), LeakyReLU(), Sigmoid(), Tanh(), Softmax(), Flatten()):
        x = rng.normal(size=(2, 3)).astype(np.float32)
        y = layer(x)
        assert y.dtype == np.float32
        assert layer.backward(np.ones(y.shape, np.float32)).dtype == np.float32
