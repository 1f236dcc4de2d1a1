"""Pool layers: gradchecks through the layer, the layer contract (attributes, output_shape,
get_config round trip, dtype, no mutation), and bad inputs. The formulas themselves are
tested in tests/functional/test_pool.py."""

import json

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers.base import LAYERS
from minidl.layers.pool import (
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAvgPool,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
)

CLASSES = {1: (MaxPool1D, AvgPool1D), 2: (MaxPool2D, AvgPool2D), 3: (MaxPool3D, AvgPool3D)}
# (kernel, stride, padding, ceil_mode, spatial size) per rank: tiling, default stride with a
# dropped remainder, overlapping with padding, ceil overhang, batch-1 odd sizes
ARGS = [
    (2, None, 0, False, 6),
    (2, None, 0, False, 5),
    (3, 1, 1, False, 5),
    (3, 2, 1, True, 6),
    (2, 3, 1, True, 7),
]
CASES = [(cls, d, a) for d, pair in CLASSES.items() for cls in pair for a in ARGS]


def tie_free(shape, rng):
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * 1e-2


@pytest.mark.parametrize("cls,d,args", CASES, ids=[f"{c.__name__}-{a}" for c, _, a in CASES])
def test_layer_gradcheck_and_shape(cls, d, args, rng):
    k, s, p, ceil, size = args
    shape = (1 if size % 2 else 2, 2) + (size if d < 3 else size - 1,) * d
    layer = cls(k, s, p, ceil)
    x = tie_free(shape, rng)
    y = layer(x)
    assert y.shape == layer.output_shape(shape)
    assert layer.params == {} and layer.grads == {}
    assert check_layer(layer, x, rng=rng) == pytest.approx({"x": 0.0}, abs=1e-6)


@pytest.mark.parametrize("cls", [c for pair in CLASSES.values() for c in pair])
def test_attributes_and_config_round_trip(cls):
    d = cls.nd
    layer = cls(3, padding=1, ceil_mode=True)
    assert layer.kernel_size == (3,) * d
    assert layer.stride == (3,) * d  # stride=None means the kernel size, as in PyTorch
    assert layer.padding == (1,) * d and layer.ceil_mode is True
    cfg = json.loads(json.dumps(layer.get_config()))  # JSON-able
    again = LAYERS[cls.__name__](**cfg)
    assert again.get_config() == layer.get_config()
    assert again.output_shape((2, 3) + (7,) * d) == layer.output_shape((2, 3) + (7,) * d)
    assert repr(layer).startswith(cls.__name__ + "(kernel_size=")


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_float32_kept_dy_not_mutated(cls, rng):
    layer = cls(2)
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    dy = rng.normal(size=y.shape)  # float64 upstream gradient: cast, not upcast the result
    dy0 = dy.copy()
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_array_equal(dy, dy0)


def test_global_avg_pool_layer(rng):
    layer = GlobalAvgPool()
    for shape in [(2, 3, 5), (1, 2, 3, 4), (2, 1, 2, 3, 2)]:
        x = rng.normal(size=shape)
        y = layer(x)
        np.testing.assert_allclose(y, x.reshape(shape[0], shape[1], -1).mean(-1), atol=1e-15)
        assert layer.output_shape(shape) == y.shape == shape[:2]
        assert check_layer(layer, x, rng=rng)["x"] < 1e-6
    assert layer.get_config() == {}
    assert isinstance(LAYERS["GlobalAvgPool"](), GlobalAvgPool)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="stride"):
        MaxPool2D(2, stride=0)
    with pytest.raises(ValueError, match="kernel_size"):
        AvgPool1D(0)
    with pytest.raises(ValueError, match="kernel_size"):
        MaxPool3D((2, 2))
    with pytest.raises(ValueError, match="padding must be at most half the kernel_size"):
        MaxPool2D(3, padding=2)
    with pytest.raises(TypeError, match="padding"):
        AvgPool2D(2, padding="same")
    with pytest.raises(TypeError, match="ceil_mode"):
        MaxPool1D(2, ceil_mode=1)


def test_bad_forward_and_backward_inputs(rng):
    layer = MaxPool2D(2)
    with pytest.raises(ValueError, match="MaxPool2D input x must be 4-dimensional"):
        layer(np.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match="MaxPool2D input x must have dtype float32 or float64"):
        layer(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="kernel_size .* larger than the padded input"):
        MaxPool2D(5, padding=1)(np.zeros((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        AvgPool2D(2).backward(np.zeros((1, 1, 2, 2)))
    layer(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="dy of shape"):
        layer.backward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="input_shape"):
        layer.output_shape((1, 4, 4))
    with pytest.raises(ValueError, match="GlobalAvgPool input x must be 3 or 4 or 5-dimensional"):
        GlobalAvgPool()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="input_shape"):
        GlobalAvgPool().output_shape((2, 3))
