"""Conv1D/2D/3D and Conv2Plus1D layers: gradchecks, contract, (2+1)-D parameter counts, errors."""

import json
import math

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers.base import LAYERS
from minidl.layers.complexity_formulas import compare_conv3d_2plus1d, mid_channels_tran
from minidl.layers.conv import Conv1D, Conv2D, Conv2Plus1D, Conv3D

LAYER_CASES = [
    (Conv1D, dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 7)),
    (Conv1D, dict(in_channels=4, out_channels=4, kernel_size=2, stride=2, padding="same",
                  groups=4, bias=False), (1, 4, 7)),
    (Conv1D, dict(in_channels=2, out_channels=4, kernel_size=3, dilation=2, padding=2,
                  groups=2), (2, 2, 6)),
    (Conv2D, dict(in_channels=3, out_channels=2, kernel_size=3, padding=1), (2, 3, 5, 4)),
    (Conv2D, dict(in_channels=2, out_channels=4, kernel_size=(2, 3), stride=(2, 1),
                  padding="same", groups=2), (1, 2, 5, 6)),
    (Conv2D, dict(in_channels=3, out_channels=3, kernel_size=3, dilation=2, groups=3,
                  padding="valid", init="kaiming_uniform"), (2, 3, 6, 5)),
    (Conv3D, dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, padding="same"),
     (1, 2, 3, 4, 5)),
    (Conv3D, dict(in_channels=2, out_channels=3, kernel_size=(1, 2, 3), padding=(0, 1, 1),
                  bias=False, init="xavier_normal"), (2, 2, 2, 3, 4)),
]  # fmt: skip
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(LAYER_CASES)]


@pytest.mark.parametrize(("cls", "kw", "x_shape"), LAYER_CASES, ids=IDS)
def test_layer_gradcheck(cls, kw, x_shape, rng):
    layer = cls(**kw, dtype=np.float64, rng=rng)
    errors = check_layer(layer, rng.normal(size=x_shape), rng=rng)
    assert set(errors) == {"x", "weight"} | ({"bias"} if layer.use_bias else set())
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize(("cls", "kw", "x_shape"), LAYER_CASES, ids=IDS)
def test_layer_contract(cls, kw, x_shape, rng):
    layer = cls(**kw, rng=rng)
    k = layer.kernel_size
    assert (
        layer.params["weight"].shape == (kw["out_channels"], kw["in_channels"] // layer.groups) + k
    )
    assert layer.params["weight"].dtype == np.float32
    x = rng.normal(size=x_shape)  # float64 in, cast to the float32 parameters
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == layer.output_shape(x_shape)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dy0 = dy.copy()
    dx1 = layer.backward(dy)
    g1 = {n: g.copy() for n, g in layer.grads.items()}
    dx2 = layer.backward(dy)  # grads are overwritten, not accumulated (col is recomputed)
    np.testing.assert_array_equal(dx1, dx2)
    for n in g1:
        np.testing.assert_array_equal(g1[n], layer.grads[n])
    np.testing.assert_array_equal(dy, dy0)
    for g in layer.grads.values():
        g[...] = np.nan  # backward_params must overwrite every grad, as backward does
    assert layer.backward_params(dy) is None
    for n in g1:  # the same sums, maybe in another order (image by image for a first layer):
        scale = np.abs(g1[n]).max()  # a few float32 ulps of the largest
        np.testing.assert_allclose(layer.grads[n], g1[n], rtol=0, atol=1e-6 * scale)
    cfg = layer.get_config()
    rebuilt = cls(**json.loads(json.dumps(cfg)))
    assert rebuilt.get_config() == cfg
    assert type(layer).__name__ in LAYERS


def test_pytorch_default_init_bounds(rng):
    layer = Conv2D(3, 8, 5, rng=rng)
    bound = 1 / math.sqrt(3 * 5 * 5)  # fan_in = C_in/groups * k*k
    for name in ("weight", "bias"):
        p = layer.params[name]
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    assert np.all(Conv2D(3, 8, 5, init="kaiming_normal", rng=rng).params["bias"] == 0)


def test_mid_channels_tran_et_al():
    """Hand computed: t = k = 3, C_in = C_out = 64 -> M = 110592 / 768 = 144 exactly, and the
    weight counts agree (9*64*144 + 3*144*64 = 82944 + 27648 = 110592 = 3*9*64*64)."""

    def weight_counts(c_in, c_out):
        c = compare_conv3d_2plus1d(c_in, c_out, 3, (3, 3, 3), padding=1, bias=False)
        return c.params_3d, c.params_2plus1d

    assert mid_channels_tran(3, 3, 64, 64) == 144
    assert weight_counts(64, 64) == (110592, 110592)
    # benchmark case: 3 -> 16 channels: floor(1296 / 75) = 17; 9*3*17 + 3*17*16 = 1275 <= 1296
    assert mid_channels_tran(3, (3, 3), 3, 16) == 17 == Conv2Plus1D(3, 16, 3).mid_channels
    assert weight_counts(3, 16) == (1296, 1275)
    with pytest.raises(ValueError, match="in_channels"):
        mid_channels_tran(3, 3, 0, 16)


def test_conv2plus1d_param_count_vs_conv3d(rng):
    block = Conv2Plus1D(64, 64, 3, bias=True, rng=rng)
    full = Conv3D(64, 64, 3, rng=rng)
    assert block.mid_channels == 144
    n_block = sum(p.size for p in block.params.values())
    n_full = sum(p.size for p in full.params.values())
    assert n_full == 110592 + 64
    assert n_block == 110592 + 144 + 64  # the factored block has M extra biases
    assert block.spatial.kernel_size == (1, 3, 3) and block.temporal.kernel_size == (3, 1, 1)


@pytest.mark.parametrize(
    ("kw", "x_shape"),
    [
        (dict(kernel_size=3, padding=1), (2, 2, 3, 4, 4)),
        (dict(kernel_size=(2, 3, 2), stride=2, padding="same", bias=False), (1, 2, 5, 5, 4)),
        (dict(kernel_size=3, stride=(1, 2, 2), padding="valid", mid_channels=2), (1, 2, 4, 5, 5)),
    ],
)
def test_conv2plus1d_gradcheck_and_shape(kw, x_shape, rng):
    block = Conv2Plus1D(2, 3, **kw, dtype=np.float64, rng=rng)
    x = rng.normal(size=x_shape)
    full = Conv3D(2, 3, kw["kernel_size"], kw.get("stride", 1), kw.get("padding", 0))
    assert block(x).shape == full.output_shape(x_shape) == block.output_shape(x_shape)
    errors = check_layer(block, x, rng=rng)
    keys = {"spatial.weight", "temporal.weight"}
    if kw.get("bias", True):
        keys |= {"spatial.bias", "temporal.bias"}
    assert set(errors) == keys | {"x"}
    assert max(errors.values()) < 1e-6, errors
    dy = rng.normal(size=block(x).shape)
    block.backward(dy)
    grads = {k: g.copy() for k, g in block.grads.items()}
    assert block.backward_params(dy) is None
    for k, g in block.grads.items():
        np.testing.assert_array_equal(g, grads[k])


def test_conv2plus1d_params_are_the_sublayers_arrays(rng):
    block = Conv2Plus1D(2, 3, 3, padding=1, rng=rng)
    assert block.params["spatial.weight"] is block.spatial.params["weight"]
    assert block.grads["temporal.bias"] is block.temporal.grads["bias"]
    x = rng.normal(size=(1, 2, 3, 4, 4)).astype(np.float32)
    y0 = block(x)
    block.params["temporal.bias"] -= 1.0  # in-place update, as an optimizer does
    np.testing.assert_allclose(block(x), y0 - 1.0, rtol=1e-6, atol=1e-6)
    block.backward(np.ones_like(y0))
    assert np.all(block.grads["temporal.bias"] == np.prod(y0.shape) / 3)
    cfg = block.get_config()
    assert Conv2Plus1D(**json.loads(json.dumps(cfg))).get_config() == cfg


def test_channel_mismatch_message():
    layer = Conv2D(3, 4, 3)
    msg = r"Conv2D expected input with 3 channels \(N, 3, H, W\), got shape \(8, 1, 28, 28\)"
    with pytest.raises(ValueError, match=msg):
        layer(np.zeros((8, 1, 28, 28), np.float32))


x4 = np.zeros((2, 3, 8, 8), np.float32)


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: Conv2D(3, 4, 3)(np.zeros((3, 8, 8), np.float32)), ValueError, "input x"),
        (lambda: Conv2D(3, 4, 3)(x4.astype(np.int32)), TypeError, "input x"),
        (lambda: Conv2D(3, 4, 3)(x4.astype(np.float16)), TypeError, "input x"),
        (lambda: Conv2D(3, 4, 9)(x4), ValueError, "kernel_size"),
        (lambda: Conv2D(3, 4, 5, dilation=2, padding=0)(x4), ValueError, "kernel_size"),
        (lambda: Conv2D(3, 4, 3, stride=0), ValueError, "stride"),
        (lambda: Conv2D(3, 4, 3, dilation=(1, 0)), ValueError, "dilation"),
        (lambda: Conv2D(3, 4, 3, groups=2), ValueError, "groups"),
        (lambda: Conv2D(4, 3, 3, groups=2), ValueError, "groups"),
        (lambda: Conv2D(3, 4, 3, padding="full"), ValueError, "padding"),
        (lambda: Conv2D(3, 4, 3, padding=-1), ValueError, "padding"),
        (lambda: Conv2D(0, 4, 3), ValueError, "in_channels"),
        (lambda: Conv2D(3, 4, (3, 3, 3)), ValueError, "kernel_size"),
        (lambda: Conv2D(3, 4, 3, init="zeros"), ValueError, "init"),
        (lambda: Conv2D(3, 4, 3, dtype=np.float16), TypeError, "dtype"),
        (lambda: Conv2D(3, 4, 3).backward(np.zeros((2, 4, 6, 6))), RuntimeError, "forward"),
        (lambda: Conv3D(3, 4, 3)(x4), ValueError, "input x"),
        (lambda: Conv2Plus1D(3, 4, 3)(np.zeros((1, 2, 4, 4, 4))), ValueError, "3 channels"),
        (lambda: Conv2Plus1D(3, 4, 3, mid_channels=0), ValueError, "mid_channels"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_bad_dy_shape(rng):
    layer = Conv1D(1, 2, 3)
    layer(rng.normal(size=(1, 1, 6)))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((1, 2, 5), np.float32))
