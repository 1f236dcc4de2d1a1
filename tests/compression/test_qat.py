"""Fake quantization, its straight-through backward, the FakeQuantize layer and the weight wrapper.

The STE is not the derivative of the forward (round has derivative 0 almost everywhere), so the
checks are: the forward equals dequantize(quantize(x)), the mask is worked out by hand, and the
wrapper's gradients are the float64 numerical gradients of the layer *with the quantized weight
held fixed*, times the mask. PyTorch agreement: tests/crosscheck/test_quantization_torch.py.
"""

import numpy as np
import pytest

from minidl.compression.qat import (
    FakeQuantize,
    FakeQuantWeight,
    fake_quantize,
    fake_quantize_backward,
    prepare_qat,
)
from minidl.compression.quantization import choose_qparams, dequantize, quantize
from minidl.gradcheck import numerical_gradient, rel_error
from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.optim import SGD


@pytest.mark.parametrize("axis", [None, 0, 2])
def test_fake_quantize_is_dequantize_of_quantize(rng, axis):
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    if axis is None:
        s, z = np.float32(0.01), -7  # a narrow range: some values are clamped
    else:
        s = rng.uniform(0.005, 0.02, size=x.shape[axis]).astype(np.float32)
        z = rng.integers(-10, 10, size=x.shape[axis])
    y, mask = fake_quantize(x, s, z, axis=axis)
    np.testing.assert_array_equal(y, dequantize(quantize(x, s, z, axis=axis), s, z, axis=axis))
    assert y.dtype == np.float32 and mask.dtype == bool and not mask.all() and mask.any()


def test_ste_mask_hand_values():
    # S = 1, Z = 0, 2-bit signed [-2, 1]: rounded codes [-3, -2, -3, 0, 1, 2]
    x = np.array([-3.0, -2.4, -2.6, 0.3, 1.4, 1.6])
    y, mask = fake_quantize(x, 1.0, 0, bits=2)
    np.testing.assert_array_equal(y, [-2, -2, -2, 0, 1, 1])
    np.testing.assert_array_equal(mask, [False, True, False, True, True, False])
    dy = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_array_equal(fake_quantize_backward(dy, mask), [0, 2, 0, 4, 5, 0])
    with pytest.raises(ValueError, match="dy"):
        fake_quantize_backward(dy[:3], mask)


def test_fake_quantize_layer_observes_in_train_and_freezes_in_eval(rng):
    fq = FakeQuantize(averaging_constant=0.01)
    x = np.linspace(-1, 3, 50, dtype=np.float32)
    y = fq(x)
    s, z = choose_qparams(-1.0, 3.0)  # the first batch sets the range
    assert fq.buffers["scale"] == s and fq.buffers["zero_point"] == z
    np.testing.assert_array_equal(y, fake_quantize(x, s, z)[0])
    fq.eval()
    fq(10 * x)  # eval: no observing, the range stays [-1, 3]
    assert fq.buffers["scale"] == s
    dy = rng.normal(size=x.shape).astype(np.float32)
    dx = fq.backward(dy)
    inside = (10 * x >= -1 - s / 2) & (10 * x <= 3 + s / 2)
    np.testing.assert_array_equal(dx, np.where(inside, dy, 0))
    with pytest.raises(RuntimeError, match="train"):
        FakeQuantize().eval()(x)
    with pytest.raises(RuntimeError, match="before forward"):
        FakeQuantize().backward(dy)


def _wrapped_dense(rng, per_channel):
    return FakeQuantWeight(Dense(6, 4, dtype=np.float64, rng=rng), bits=4, per_channel=per_channel)


@pytest.mark.parametrize("per_channel", [True, False])
def test_wrapper_forward_uses_the_fake_quantized_weight(rng, per_channel):
    layer = _wrapped_dense(rng, per_channel)
    x = rng.normal(size=(5, 6))
    w = layer.params["weight"]
    if per_channel:
        s, z = choose_qparams(w.min(axis=1), w.max(axis=1), 4, True, narrow_range=True)
        q = quantize(w, s, z, bits=4, narrow_range=True, axis=0)
        w_hat = dequantize(q, s, z, axis=0, dtype=np.float64)
    else:
        s, z = choose_qparams(w.min(), w.max(), 4, True, narrow_range=True)
        q = quantize(w, s, z, bits=4, narrow_range=True)
        w_hat = dequantize(q, s, z, dtype=np.float64)
    assert np.abs(q).max() == 7  # 4-bit narrow range: 15 levels, the largest |w| -> 7
    np.testing.assert_allclose(layer(x), x @ w_hat.T + layer.params["bias"], rtol=1e-12)


@pytest.mark.parametrize("make", ["dense", "conv"])
def test_wrapper_gradients(rng, make):
    if make == "dense":
        layer = _wrapped_dense(rng, True)
        x = rng.normal(size=(3, 6))
    else:
        conv = Conv2D(2, 3, 3, padding=1, stride=2, dtype=np.float64, rng=rng)
        layer = FakeQuantWeight(conv, bits=3)
        x = rng.normal(size=(2, 2, 5, 5))
    y = layer(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    w_hat, mask = layer.quantized_weight()
    inner = layer.layer

    def loss():
        return np.sum(inner.forward(x) * dy)

    # input and bias: exact derivatives with w_hat fixed; weight: derivative w.r.t. w_hat
    assert rel_error(dx, numerical_gradient(loss, x)) < 1e-7
    assert rel_error(layer.grads["bias"], numerical_gradient(loss, inner.params["bias"])) < 1e-7
    g_what = numerical_gradient(loss, inner.params["weight"])
    assert rel_error(layer.grads["weight"], g_what * mask) < 1e-7


def test_wrapper_keeps_the_float_master_weight(rng):
    dense = Dense(6, 4, dtype=np.float64, rng=rng)
    w = dense.params["weight"]
    layer = FakeQuantWeight(dense, bits=4)
    assert layer.params["weight"] is w  # optimizers keep updating the same array
    assert dense.params["weight"] is not w
    x = rng.normal(size=(2, 6))
    y0 = layer(x)
    w += 0.3  # an in-place update (as optimizer.step does) changes the next forward
    assert not np.allclose(layer(x), y0)


def test_wrapper_config_round_trip_and_bad_layer(rng):
    layer = FakeQuantWeight(Conv2D(2, 3, 3, rng=rng), bits=5, per_channel=False)
    again = FakeQuantWeight(**layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.output_shape((1, 2, 8, 8)) == (1, 3, 6, 6)
    with pytest.raises(TypeError, match="layer"):
        FakeQuantWeight(ReLU())


def test_qat_training_lowers_the_loss(rng):
    """A few SGD steps on a separable problem through prepare_qat's 4-bit weights."""
    x = rng.normal(size=(64, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum(axis=(1, 2)) > x[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    model = Sequential([Conv2D(1, 4, 3, rng=rng), ReLU(), Flatten(), Dense(4 * 16, 2, rng=rng)])
    keys = list(model.params)
    prepare_qat(model, bits=4)
    assert isinstance(model.layers[0], FakeQuantWeight) and list(model.params) == keys
    crit, opt = CrossEntropyLoss(), SGD(lr=0.3, momentum=0.9)
    losses = []
    for _ in range(40):
        losses.append(crit(model(x), y))
        model.backward(crit.backward())
        opt.step(model.params, model.grads)
    assert losses[-1] < 0.5 * losses[0], losses[::8]
    with pytest.raises(TypeError, match="model"):
        prepare_qat([Dense(2, 2)])


def test_fake_quantize_layer_per_channel(rng):
    fq = FakeQuantize(axis=1, averaging_constant=None, symmetric=True)
    x = rng.normal(size=(4, 3, 5)) * np.array([0.1, 1.0, 10.0]).reshape(1, 3, 1)
    y = fq(x)
    assert fq.buffers["scale"].shape == (3,) and y.dtype == np.float64
    amax = np.abs(x).max(axis=(0, 2))
    np.testing.assert_allclose(fq.buffers["scale"], amax / 127.5, rtol=1e-6)
    # half a step; qparams are float32 (as PyTorch's): rounding max|x| and S, each 2^-24
    # relative, moves the clamped end by up to ~256 * 2^-24 = 1.5e-5 of a half step each
    assert np.all(np.abs(y - x) <= fq.buffers["scale"].reshape(1, 3, 1) / 2 * (1 + 1e-4))
    assert fq.get_config()["axis"] == 1


def test_fake_quantize_bad_inputs():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="bits"):
        fake_quantize(x, 0.1, 0, bits=33)
    with pytest.raises(ValueError, match="scale"):
        fake_quantize(x, -0.1, 0)
    with pytest.raises(ValueError, match="zero_point"):
        fake_quantize(x, 0.1, 128)
    with pytest.raises(ValueError, match="axis"):
        fake_quantize(x, np.ones(3), np.zeros(3, int), axis=5)
    with pytest.raises(ValueError, match="NaN"):
        fake_quantize(np.array([np.nan]), 0.1, 0)
    with pytest.raises(ValueError, match="bits"):
        FakeQuantize(bits=0)


def test_fake_quantize_layer_in_a_sequential(rng):
    model = Sequential([Dense(5, 4, rng=rng), FakeQuantize(), ReLU(), Dense(4, 3, rng=rng)])
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = model(x)
    dx = model.backward(rng.normal(size=y.shape).astype(np.float32))
    assert dx.shape == x.shape and dx.dtype == np.float32
    state = model.state_dict()
    assert "1.scale" in state and "1.zero_point" in state
    again = FakeQuantize(**model.layers[1].get_config())
    assert again.get_config() == model.layers[1].get_config()
