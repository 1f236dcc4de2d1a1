"""OBD's backpropagated diagonal Hessian (H1)-(H4): exact where the approximations drop nothing,
checked against second differences of loss values; hand cases for each layer rule."""

import numpy as np
import pytest

from minidl.compression.hessian import _layer_backward, hessian_diag_backprop, output_curvature
from minidl.compression.importance import dense_ce_hessian_diag, obd_saliency, obd_scores
from minidl.gradcheck import numerical_hessian_diag
from minidl.layers.activations import ReLU, Softmax, Tanh
from minidl.layers.batchnorm import BatchNorm1D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.layers.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn import zoo
from minidl.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from minidl.nn.model import Sequential

F64 = dict(dtype=np.float64)


def second_differences(model, X, y, loss, key):
    """Second differences of loss values only (no backward pass), h = 1e-3: rounding ~1e-9;
    no truncation where L is quadratic in each weight (MSE through linear and ReLU units away
    from a kink), ~1e-7 relative for BCE."""
    return numerical_hessian_diag(lambda: loss(model.forward(X), y), model.params[key])


def assert_exact(model, X, y, loss):
    h = hessian_diag_backprop(model, X, loss)
    assert set(h) == set(model.params)
    for key in model.params:
        np.testing.assert_allclose(
            h[key], second_differences(model, X, y, loss, key), rtol=1e-6, atol=1e-9, err_msg=key
        )


def test_last_dense_layer_equals_the_closed_form(rng):
    """(H4) feeds (H1) directly: the last Dense layer's diagonal is exact."""
    model = Sequential([Dense(5, 7, **F64, rng=rng), Tanh(), Dense(7, 4, **F64, rng=rng)])
    X = rng.normal(size=(9, 5))
    h = hessian_diag_backprop(model, X, CrossEntropyLoss(), keys=["2.weight", "2.bias"])
    x_in = np.tanh(X @ model.params["0.weight"].T + model.params["0.bias"])
    hw, hb = dense_ce_hessian_diag(x_in, model.params["2.weight"], model.params["2.bias"])
    np.testing.assert_allclose(h["2.weight"], hw, rtol=1e-12)
    np.testing.assert_allclose(h["2.bias"], hb, rtol=1e-12)


def test_exact_for_a_dense_relu_chain_into_one_output(rng):
    """One output unit: no cross terms to drop in (H2), and ReLU has f'' = 0 in (H3)."""
    model = Sequential([Dense(4, 3, **F64, rng=rng), ReLU(), Dense(3, 1, **F64, rng=rng)])
    X, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    assert_exact(model, X, y, MSELoss())


def test_exact_for_conv_with_one_output_position(rng):
    """A 3x3 kernel on a 3x3 input: each conv weight is used once per sample, so (H1) drops
    nothing; BCE with logits at the top."""
    model = Sequential([Conv2D(2, 3, 3, **F64, rng=rng), ReLU(), Flatten(),
                        Dense(3, 1, **F64, rng=rng)])  # fmt: skip
    X, y = rng.normal(size=(8, 2, 3, 3)), rng.integers(0, 2, size=(8, 1)).astype(float)
    assert_exact(model, X, y, BCEWithLogitsLoss())


def test_exact_through_max_pooling(rng):
    """The conv weights are used at 4 positions, but max pooling passes only one of them on,
    so the cross-position terms vanish: exact, and the 0/1 routing is checked with it."""
    model = Sequential([Conv2D(1, 2, 2, **F64, rng=rng), MaxPool2D(2), Flatten(),
                        Dense(2, 1, **F64, rng=rng)])  # fmt: skip
    X, y = rng.normal(size=(6, 1, 3, 3)), rng.normal(size=(6, 1))
    assert_exact(model, X, y, MSELoss())


def test_conv_rules_by_loops(rng):
    """(H1) and (H2) for a strided, padded, grouped conv, written as loops over the uses of
    each weight: h_w[o, c, p, q] = sum_(n,i,j) xp[n, c', 2i+p, 2j+q]^2 h_a[n, o, i, j] and
    h_xp[n, c', 2i+p, 2j+q] += w[o, c, p, q]^2 h_a[n, o, i, j], with c' = g(o) C_g + c and
    xp the input zero-padded by 1; h_a a random positive array."""
    conv = Conv2D(4, 6, 3, stride=2, padding=1, groups=2, **F64, rng=rng)
    X = rng.normal(size=(2, 4, 5, 5))
    h_a = rng.random(conv.forward(X).shape)  # (2, 6, 3, 3)
    h_x, found = _layer_backward(conv, h_a, need_input=True)
    xp, w = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1))), conv.params["weight"]
    want_w, want_xp = np.zeros(w.shape), np.zeros(xp.shape)
    for o, c, p, q in np.ndindex(*w.shape):
        ci = (o // 3) * 2 + c  # 3 output and 2 input channels per group
        for n, i, j in np.ndindex(2, 3, 3):
            want_w[o, c, p, q] += xp[n, ci, 2 * i + p, 2 * j + q] ** 2 * h_a[n, o, i, j]
            want_xp[n, ci, 2 * i + p, 2 * j + q] += w[o, c, p, q] ** 2 * h_a[n, o, i, j]
    np.testing.assert_allclose(found["weight"], want_w, rtol=1e-13)
    np.testing.assert_allclose(found["bias"], h_a.sum(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(h_x, want_xp[:, :, 1:-1, 1:-1], rtol=1e-13)


def test_output_curvature_by_hand():
    z = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])  # softmax rows (1/4, 3/4) and (1/2, 1/2)
    want = np.array([[3 / 16, 3 / 16], [1 / 4, 1 / 4]]) / 2
    np.testing.assert_allclose(output_curvature(CrossEntropyLoss(), z), want, rtol=1e-15)
    np.testing.assert_allclose(output_curvature(MSELoss(), z), np.full((2, 2), 0.5))
    s = 1 / (1 + np.exp(-2.0))
    got = output_curvature(BCEWithLogitsLoss(), np.array([[2.0]]))
    np.testing.assert_allclose(got, [[s * (1 - s)]], rtol=1e-15)


def test_layer_rules_by_hand(rng):
    """With the MSE's constant h = 2/size at the top, the curvature reaching the input:
    (H3) through Tanh is (1 - tanh^2)^2 h; inverted dropout scales kept units by 1/(1-p)^2;
    a 2x2 average pool sends h/16 to each input; a global average pool over 6 positions h/36."""
    x = rng.normal(size=(3, 4))

    def input_curvature(*layers, x=x):
        model = Sequential(list(layers))
        h = output_curvature(MSELoss(), model.forward(x))
        for layer in reversed(model.layers):
            h, _ = _layer_backward(layer, h, need_input=True)
        return h

    c = 2.0 / x.size
    np.testing.assert_allclose(input_curvature(Tanh()), (1 - np.tanh(x) ** 2) ** 2 * c)
    drop = Dropout(0.5, rng=0)
    got = input_curvature(drop)
    kept = drop._cache.mask != 0  # the mask of the forward pass input_curvature made
    np.testing.assert_allclose(got, np.where(kept, 4 * c, 0.0))
    x4 = rng.normal(size=(2, 3, 4, 4))
    got = input_curvature(AvgPool2D(2), Flatten(), x=x4)
    np.testing.assert_allclose(got, np.full(x4.shape, 2.0 / (2 * 3 * 2 * 2) / 16))
    x6 = rng.normal(size=(2, 3, 2, 3))
    got = input_curvature(GlobalAvgPool(), x=x6)
    np.testing.assert_allclose(got, np.full(x6.shape, 2.0 / 6 / 36))


def test_lenet5_float32_gives_nonnegative_curvature(rng):
    """On a real network (float32, ReLU, max pooling, cross entropy) every kept term is a sum
    of squares times p(1 - p) >= 0: all diagonals are finite and >= 0, and the OBD scores
    computed from them are what obd_scores(method='backprop') returns."""
    model = zoo.lenet5(rng=rng)
    X, y = rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=16)
    h = hessian_diag_backprop(model, X, CrossEntropyLoss())
    assert set(h) == set(model.params)
    for key, v in h.items():
        assert v.shape == model.params[key].shape and v.dtype == np.float64
        assert np.all(np.isfinite(v)) and v.min() >= 0 and v.max() > 0, key
    scores = obd_scores(model, X, y, CrossEntropyLoss(), ["0.weight", "3.weight"], "backprop")
    for key in scores:
        np.testing.assert_allclose(scores[key], obd_saliency(model.params[key], h[key]), rtol=1e-6)


def test_bad_inputs(rng):
    X = rng.normal(size=(4, 3))
    with pytest.raises(TypeError, match="layer 1 is BatchNorm1D"):
        hessian_diag_backprop(Sequential([Dense(3, 2, rng=0), BatchNorm1D(2)]), X, MSELoss())
    with pytest.raises(TypeError, match="layer 1 is Softmax"):
        hessian_diag_backprop(Sequential([Dense(3, 2, rng=0), Softmax()]), X, MSELoss())
    with pytest.raises(ValueError, match="keys has '5.weight'"):
        hessian_diag_backprop(Sequential([Dense(3, 2, rng=0)]), X, MSELoss(), keys=["5.weight"])
    with pytest.raises(TypeError, match="loss must be"):
        output_curvature(object(), X)
    with pytest.raises(ValueError, match="method must be"):
        obd_scores(Sequential([Dense(3, 2, rng=0)]), X, None, MSELoss(), ["0.weight"], "gn")
