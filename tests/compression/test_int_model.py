"""Integer-only Dense/Conv layers and quantize_model.

Each output is checked against a worst-case bound derived from the quantization steps (not
against minidl's own output): with :math:`|\\tilde x - x| \\le S_x/2`, :math:`|\\tilde w - w| \\le
S_w/2`, :math:`|\\tilde b - b| \\le S_x S_w / 2` and at most one output code from the
requantization's two roundings,

.. math:: |\\hat y - y| \\le \\sum_j \\big(|\\tilde w_j| S_x/2 + |x_j| S_w/2\\big)
          + S_x S_w/2 + S_y.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from requantize_twins import requantize_twins

from minidl.compression.int_model import (
    QuantizedConv2D,
    QuantizedDense,
    quantize_model,
    quantized_layer,
)
from minidl.compression.quantization import choose_qparams, dequantize, quantize
from minidl.functional import _conv_winograd
from minidl.functional.conv import conv_nd
from minidl.functional.windows import window_geometry
from minidl.layers.activations import ReLU, Softmax, Tanh
from minidl.layers.conv import Conv1D, Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import AvgPool2D, MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _qparams(y):
    return choose_qparams(y.min(), y.max())


def _windows(x, w, padding):
    return window_geometry(x.shape[2:], w.shape[2:], 1, padding, 1)


def test_dense_accumulator_naive_twin_and_bound(rng):
    layer = Dense(20, 7, rng=rng)
    x = rng.normal(size=(5, 20)).astype(np.float32)
    y = layer.forward(x)
    qx, qy = _qparams(x), _qparams(y)
    ql = QuantizedDense(layer, qx, qy)
    q_in = quantize(x, *qx)
    np.testing.assert_array_equal(ql.accumulate(q_in), ql.accumulate_naive(q_in))
    assert ql.weight_q.dtype == np.int8 and ql.bias_q.dtype == np.int32
    assert np.abs(ql.weight_q).max() == 127  # symmetric, narrow range: the largest |w| -> 127
    q_out = ql(q_in)
    assert q_out.dtype == np.int8
    w_t = dequantize(ql.weight_q, ql.weight_scale, np.zeros(7, int), axis=0)
    s_w = ql.weight_scale
    bound = (np.abs(w_t).sum(1) * qx[0] / 2 + np.abs(x) @ (np.ones((20, 7)) * s_w / 2)
             + qx[0] * s_w / 2 + qy[0])  # fmt: skip
    err = np.abs(dequantize(q_out, *qy) - y)
    assert np.all(err <= bound * (1 + 1e-5)), (err / bound).max()
    assert err.mean() < 0.25 * bound.mean()  # typical errors average out well below worst case


def test_requantization_within_one_code_of_float_rescaling(rng):
    layer = Dense(30, 9, rng=rng)
    x = rng.uniform(-1, 2, size=(40, 30)).astype(np.float32)
    y = layer.forward(x)
    ql = QuantizedDense(layer, _qparams(x), _qparams(y))
    q_in = quantize(x, *_qparams(x))
    acc = ql.accumulate(q_in).astype(np.float64)
    q_float = np.clip(np.rint(ql.output_zero_point + acc * ql.multiplier), -128, 127)
    diff = np.abs(ql(q_in) - q_float)
    assert diff.max() <= 1 and diff.mean() < 0.1


CONV_CASES = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), padding="same", dilation=(2, 1)),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=3, padding="same", stride=2, groups=3),
]


@pytest.mark.parametrize("cfg", CONV_CASES)
def test_conv_accumulator_naive_twin_and_bound(rng, cfg):
    layer = Conv2D(**cfg, rng=rng)
    x = rng.normal(size=(2, cfg["in_channels"], 7, 6)).astype(np.float32)
    y = layer.forward(x)
    qx, qy = _qparams(x), _qparams(y)
    ql = quantized_layer(layer, qx, qy)
    assert isinstance(ql, QuantizedConv2D)
    q_in = quantize(x, *qx)
    np.testing.assert_array_equal(ql.accumulate(q_in), ql.accumulate_naive(q_in))
    w_t = dequantize(ql.weight_q, ql.weight_scale, np.zeros(len(ql.weight_scale), int), axis=0)
    s_w = ql.weight_scale.astype(np.float64).reshape(1, -1, 1, 1)
    args = (None, layer.stride, layer.padding, layer.dilation, layer.groups)
    ones = np.ones_like(x, dtype=np.float64)
    bound = (conv_nd(ones, np.abs(w_t).astype(np.float64), *args) * qx[0] / 2
             + conv_nd(np.abs(x).astype(np.float64), np.ones(w_t.shape), *args) * s_w / 2
             + qx[0] * s_w / 2 + qy[0])  # fmt: skip
    err = np.abs(dequantize(ql(q_in), *qy) - y)
    assert np.all(err <= bound * (1 + 1e-5)), (err / bound).max()


def test_conv_accumulator_is_exact_where_conv_nd_takes_winograd(rng):
    # 96 -> 96 channels, 5x5 'same' on 22 x 22, two images: conv_nd runs this by Winograd's
    # F(2x2, 5x5) on every machine profile and thread count, whose transforms divide by 6 and
    # 24. On integer codes its float64 sums are a few 1e-9 off the integers, which the int32
    # cast truncates (1233.9999999 -> 1233); the layer sums by im2col alone (conv_nd_sums)
    layer = Conv2D(96, 96, 5, padding=2, rng=rng)
    x = rng.normal(size=(2, 96, 22, 22)).astype(np.float32)
    ql = quantized_layer(layer, _qparams(x), _qparams(layer.forward(x)))
    q_in = quantize(x, *_qparams(x))
    centred = q_in.astype(np.int64) - ql.input_zero_point
    w = ql.weight_q.astype(np.int64)
    assert ql.gemm_dtype == np.float64  # 2400 terms a sum: beyond float32's exact integers
    assert _conv_winograd.applies(centred.shape, w.shape, 1, _windows(centred, w, padding=2))
    by_winograd = conv_nd(centred.astype(np.float64), w.astype(np.float64), None, 1, 2)
    assert np.abs(by_winograd - np.rint(by_winograd)).max() > 0  # what the layer avoids
    # the exact sums in int64: every 5 x 5 window of the zero-padded centred codes times w
    windows = sliding_window_view(np.pad(centred, ((0, 0), (0, 0), (2, 2), (2, 2))), (5, 5),
                                  axis=(2, 3))  # fmt: skip
    exact = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    exact += ql.bias_q.reshape(1, -1, 1, 1)
    np.testing.assert_array_equal(ql.accumulate(q_in), exact)


@pytest.mark.parametrize("in_features, dtype", [(518, np.float32), (519, np.float64)])
def test_accumulator_float_is_float32_only_where_it_is_exact(in_features, dtype):
    # the worst case of the bound: every weight code +-127 and every centred input code +-255
    # (Z_x = 127, codes -128), all products of one sign: the sum is in_features x 32,385, below
    # 2^24 for 518 terms, above it for 519
    layer = Dense(in_features, 2)
    layer.params["weight"][:] = -1.0
    layer.params["bias"][:] = 0.0
    ql = QuantizedDense(layer, (np.float32(1.0), 127), (np.float32(1e6), 0))
    assert ql.gemm_dtype == dtype and np.all(ql.weight_q == -127)
    q_in = np.full((3, in_features), -128, dtype=np.int8)
    acc = ql.accumulate(q_in)
    assert np.all(acc == in_features * 127 * 255)
    np.testing.assert_array_equal(acc, ql.accumulate_naive(q_in))


def test_accumulator_in_int32_only_where_no_sum_can_overflow():
    # the worst case again (518 terms of 32,385: 16,775,430 a sum) plus a bias of about 2.03e9
    # stays in int32 and is summed there; a bias of about 2.15e9 can overflow with the worst
    # input, so the sums go through int64 and the range check: exact for a mild input (every
    # code at Z_x, the accumulator the bias alone), an error for the worst one
    worst, mild = np.full((3, 518), -128, dtype=np.int8), np.full((3, 518), 127, dtype=np.int8)
    for bias, fits in ((16.0e6, True), (16.9e6, False)):
        layer = Dense(518, 2)
        layer.params["weight"][:] = -1.0
        layer.params["bias"][:] = bias
        ql = QuantizedDense(layer, (np.float32(1.0), 127), (np.float32(1e9), 0))
        assert ql.fits_int32 == fits
        np.testing.assert_array_equal(ql.accumulate(mild), ql.accumulate_naive(mild))
        if fits:
            acc = ql.accumulate(worst)
            np.testing.assert_array_equal(acc, ql.accumulate_naive(worst))
            assert acc.dtype == np.int32 and np.all(acc == 518 * 127 * 255 + ql.bias_q)
        else:
            assert 518 * 127 * 255 + int(ql.bias_q.max()) > 2**31 - 1
            with pytest.raises(OverflowError, match="int32"):
                ql.accumulate(worst)


@pytest.mark.parametrize("case", ["conv", "conv relu", "dense", "int32 sums", "int64 sums"])
def test_layer_call_is_gemmlowp_on_the_naive_accumulator(rng, case):
    # every route of a call against gemmlowp's scalar steps on the Python-integer accumulator:
    # sums small enough for requantize's float path (a conv, with a fused ReLU, a dense layer),
    # sums that fit int32 but not always the float path (518 worst-case terms, 16.8 M:
    # requantize picks per block), and sums that can leave int32 (a bias of about 2.14e9: the
    # checked int64 accumulator)
    if case.startswith("conv") or case == "dense":
        layer = Conv2D(3, 5, 3, padding=1, rng=rng) if case != "dense" else Dense(20, 7, rng=rng)
        x = rng.normal(size=(4, 3, 6, 6) if case != "dense" else (9, 20)).astype(np.float32)
        ql = quantized_layer(layer, _qparams(x), _qparams(layer.forward(x)), relu="relu" in case)
        q_in = quantize(x, *_qparams(x))
        assert ql.fits_int32
    else:
        layer = Dense(518, 3)
        layer.params["weight"][:] = -1.0
        layer.params["bias"][:] = 1e4 if case == "int32 sums" else 16.85e6
        ql = QuantizedDense(layer, (np.float32(1.0), 127), (np.float32(1e6), 0))
        # codes near Z_x = 127 keep the sums below 518 x 127 x 27 = 1.8 M: within int32 beside
        # the large bias (2.14e9), which only the worst-case input would overflow
        q_in = rng.integers(-128 if case == "int32 sums" else 100, 128, size=(5, 518))
        q_in = q_in.astype(np.int8)
        assert ql.fits_int32 == (case == "int32 sums")
    acc = ql.accumulate_naive(q_in)
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    lo = max(ql.qmin, ql.output_zero_point) if ql.relu else ql.qmin
    want = requantize_twins(acc, ql.m0.reshape(shape), ql.shift.reshape(shape),
                            ql.output_zero_point, lo, ql.qmax)  # fmt: skip
    got = ql(q_in)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)


def test_conv1d_and_per_tensor_weights(rng):
    layer = Conv1D(2, 3, 3, padding=1, rng=rng)
    x = rng.normal(size=(2, 2, 9)).astype(np.float32)
    y = layer.forward(x)
    ql = quantized_layer(layer, _qparams(x), _qparams(y), per_channel=False)
    assert len(np.unique(ql.weight_scale)) == 1
    q_in = quantize(x, *_qparams(x))
    np.testing.assert_array_equal(ql.accumulate(q_in), ql.accumulate_naive(q_in))
    assert np.abs(ql.forward_float(x) - y).max() < 0.05 * np.abs(y).max()


def test_fused_relu_clamps_at_the_zero_code(rng):
    layer = Dense(10, 8, rng=rng)
    x = rng.normal(size=(30, 10)).astype(np.float32)
    y = np.maximum(layer.forward(x), 0)
    qy = _qparams(y)
    ql = QuantizedDense(layer, _qparams(x), qy, relu=True)
    q = ql(quantize(x, *_qparams(x)))
    assert q.min() >= qy[1] and np.any(q == qy[1])
    assert np.all(dequantize(q, *qy) >= 0)


def _small_cnn(rng, middle=None, tail=()):
    layers = [Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2)]
    layers += [middle] if middle is not None else []
    layers += [Conv2D(4, 6, 3, rng=rng), ReLU(), AvgPool2D(2), Flatten(), Dense(6, 5, rng=rng)]
    return Sequential(layers + list(tail))


def test_quantize_model_matches_float_model(rng):
    model = _small_cnn(rng)
    x = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
    qmodel = quantize_model(model, x, batch_size=16)
    lines = qmodel.describe()
    assert lines[0].startswith("QuantizedConv2D") and "fused ReLU" in lines[0]
    assert "maxpool" in lines[1] and lines[-1].startswith("QuantizedDense")
    y, yq = model.forward(x), qmodel.predict(x, batch_size=20)
    # three requantized layers: each adds at most a few output steps of error
    assert np.abs(yq - y).max() < 0.05 * (y.max() - y.min())
    assert np.mean(np.argmax(yq, 1) == np.argmax(y, 1)) >= 0.9


def test_quantize_model_float_fallback_and_tail(rng):
    model = _small_cnn(rng, middle=Tanh(), tail=[Softmax()])
    x = rng.normal(size=(32, 1, 8, 8)).astype(np.float32)
    qmodel = quantize_model(model, x, observer="percentile", percentile=99.9)
    lines = qmodel.describe()
    assert "Tanh: float fallback" in lines and lines[-1] == "Softmax: float, after dequantize"
    p = qmodel(x)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert np.abs(p - model.forward(x)).max() < 0.05
    with pytest.raises(TypeError, match="Tanh"):
        quantize_model(model, x, allow_float_fallback=False)


def test_int_model_bad_inputs(rng):
    layer = Dense(4, 3, rng=rng)
    ql = QuantizedDense(layer, (np.float32(0.1), 0), (np.float32(0.1), 0))
    with pytest.raises(TypeError, match="q_x"):
        ql(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="q_x"):
        ql(np.full((2, 4), 300, np.int16))
    with pytest.raises(ValueError, match="bits"):
        QuantizedDense(layer, (0.1, 0), (0.1, 0), bits=16)
    with pytest.raises(TypeError, match="layer"):
        quantized_layer(ReLU(), (0.1, 0), (0.1, 0))
    model = Sequential([layer])
    with pytest.raises(TypeError, match="model"):
        quantize_model([layer], np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="observer"):
        quantize_model(model, np.zeros((2, 4), np.float32), observer="kl")
    with pytest.raises(ValueError, match="calibration_data"):
        quantize_model(model, np.zeros((0, 4), np.float32))


@pytest.mark.slow
def test_int8_model_within_one_point_of_float_on_digits():
    """Article 003's recipe in small (Conv-ReLU-MaxPool, Dense) trained by minidl on the 8x8
    digits (1,197 train / 600 test); post-training int8 with min/max calibration on the
    training images must lose at most 1 accuracy point on the test images."""
    from minidl.datasets import load_digits
    from minidl.nn.losses import CrossEntropyLoss
    from minidl.optim import Adam

    X, y = load_digits(scale=True)
    order = np.random.default_rng(0).permutation(len(X))
    tr, te = order[:1197], order[1197:]
    rng = np.random.default_rng(1)
    model = Sequential([
        Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), Flatten(),
        Dense(8 * 16, 32, rng=rng), ReLU(), Dense(32, 10, rng=rng),
    ])  # fmt: skip
    model.fit(X[tr], y[tr], epochs=15, batch_size=32, optimizer=Adam(1e-2),
              loss=CrossEntropyLoss(), rng=2, verbose=False)  # fmt: skip
    model.eval()
    acc_float = np.mean(np.argmax(model.predict(X[te]), 1) == y[te])
    qmodel = quantize_model(model, X[tr])
    acc_int = np.mean(np.argmax(qmodel.predict(X[te]), 1) == y[te])
    assert acc_float > 0.9
    assert abs(acc_float - acc_int) <= 0.01, (acc_float, acc_int)


def test_qat_model_converts_to_the_weights_it_trained_with(rng):
    from minidl.compression.qat import FakeQuantWeight, prepare_qat

    model = prepare_qat(_small_cnn(rng))
    x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
    qmodel = quantize_model(model, x)
    wrappers = [layer for layer in model.layers if isinstance(layer, FakeQuantWeight)]
    qlayers = [s for s in qmodel.steps if isinstance(s, (QuantizedDense, QuantizedConv2D))]
    assert len(wrappers) == len(qlayers) == 3
    for wrapper, ql in zip(wrappers, qlayers, strict=True):
        w_fake, _ = wrapper.quantized_weight()
        zeros = np.zeros(len(ql.weight_scale), int)
        np.testing.assert_array_equal(
            dequantize(ql.weight_q, ql.weight_scale, zeros, axis=0), w_fake
        )


def test_quantized_model_evaluates_and_summarizes_like_a_float_model(rng):
    model = _small_cnn(rng)
    x = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, size=40)
    qmodel = quantize_model(model, x)
    logits = qmodel.predict(x).astype(np.float64)
    # cross-entropy and accuracy from the logits, by the log-sum-exp formula
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss, acc = qmodel.evaluate(x, y, batch_size=16)
    assert loss == pytest.approx(-log_p[np.arange(40), y].mean(), rel=1e-5)
    assert acc == np.mean(np.argmax(logits, axis=1) == y)
    text = qmodel.summary((1, 1, 8, 8))
    rows = text.splitlines()
    # conv 1->4, 3x3: 36 int8 weight codes + 4 int32 bias codes + 4 float32 scales = 68 bytes
    assert rows[1].split()[1] == "QuantizedConv2D" and rows[1].endswith(" 68")
    assert "(4, 8, 8)" in rows[1] and "(5,)" in rows[-2]
    # dense 6->5: 30 + 20 + 20 = 70; the second conv 4->6: 216 + 24 + 24 = 264
    assert rows[-1] == "stored parameters: 402 bytes (8-bit integer model)"
    with pytest.raises(TypeError, match="inference-only"):
        qmodel.train()
