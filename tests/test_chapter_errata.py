"""Errata of the source articles (and of earlier chapter text) that involve a number.

Each test is cited in a chapter's Erratum box or note. It computes the number the article (or
the chapter, before its fix) got wrong from the library and from an independent hand count,
and holds the corrected statement. Chapter numbers: article 000 -> 01, ..., 004 -> 05.
"""

import json
import pathlib

import numpy as np
import pytest

from minidl.compression import clipping, storage
from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn import complexity as cx
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.nn.zoo import article000_cnn, article003_cnn

CHAPTERS = pathlib.Path(__file__).resolve().parents[1] / "chapters"


def chapter_prose(prefix):
    """The markdown of chapter ``prefix`` ('01', ...), one string."""
    (path,) = CHAPTERS.glob(f"{prefix}_*.ipynb")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


# --- chapter 01 (article 000) ---


def test_chapter01_quotes_the_2plus1d_macs_it_computes():
    cmp = cx.compare_conv3d_2plus1d(16, 32, 3, (8, 28, 28), padding=1)
    # by hand, (1.4) with M = 57: 8 frames x 784 positions x (57*16*9 + 32*57*3 = 13,680)
    assert cmp.macs_2plus1d == 8 * 784 * (57 * 16 * 9 + 32 * 57 * 3) == 85_800_960
    prose = chapter_prose("01")
    assert "85{,}800{,}960" in prose and "86{,}661{,}120" not in prose


def test_pooling_has_no_parameters_it_shrinks_the_next_layer():
    # article 000, section 3: pooling "reduces the number of parameters" -- it has none
    pool = cx.summary([MaxPool2D(2)], (1, 64, 11, 11)).rows[0]
    assert pool.params == 0 and pool.output_shape == (1, 64, 5, 5)
    rows = cx.summary(article000_cnn(rng=0), (1, 1, 28, 28)).rows
    assert [r.params for r in rows if r.layer == "MaxPool2D"] == [0, 0]
    # what the second pool does save: the dense layer sees 64*5*5 = 1,600 features, not
    # 64*11*11 = 7,744 (hand counts of (1.1) for Dense: in*out + out)
    assert rows[-1].params == 1_600 * 10 + 10 == 16_010
    no_second_pool = Sequential(
        [
            Conv2D(1, 32, 3),
            ReLU(),
            MaxPool2D(2),
            Conv2D(32, 64, 3),
            ReLU(),
            Flatten(),
            Dense(7_744, 10),
        ]
    )
    assert cx.summary(no_second_pool, (1, 1, 28, 28)).rows[-1].params == 7_744 * 10 + 10 == 77_450


def test_article000_layer_ignores_its_kernel_arguments():
    # conv_kernel() always draws [5, 5, 1, 32]: 800 weights, 32 filters, whatever was asked
    hard_coded = cx.conv_params(1, 32, (5, 5), bias=False)
    asked = cx.conv_params(1, 64, (3, 3), bias=False)  # output_channels=64, kernel_size=3
    assert (hard_coded, asked) == (5 * 5 * 1 * 32, 3 * 3 * 1 * 64) == (800, 576)
    assert Conv2D(1, 64, 3).params["weight"].shape == (64, 1, 3, 3)  # what the arguments mean


def test_categorical_on_one_hot_equals_sparse_on_integer_labels(rng):
    # article 000, section 7: categorical_crossentropy wants one-hot targets (N, 10); with
    # integer labels (N,) it is sparse_categorical_crossentropy that computes the same number
    logits = rng.normal(size=(6, 10))
    labels = rng.integers(0, 10, 6)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))  # by hand, small logits
    categorical = -np.mean(np.sum(np.eye(10)[labels] * log_p, axis=1))
    assert CrossEntropyLoss()(logits, labels) == pytest.approx(categorical, rel=1e-12)
    assert np.eye(10)[labels].shape != labels.shape  # the shapes Keras would compare


def test_arithmetic_intensity_counts_input_activations():
    # (1.13) for conv1 of article 000's CNN: weights 4*320, input 4*784, output 4*32*26*26 bytes
    row = cx.summary(article000_cnn(rng=0), (1, 1, 28, 28)).rows[0]
    assert row.input_shape == (1, 1, 28, 28) and row.activation_bytes == 4 * 32 * 26 * 26
    moved = 4 * row.params + 4 * 28 * 28 + row.activation_bytes
    assert moved == 1_280 + 3_136 + 86_528
    assert row.flops / moved == pytest.approx(4.519, abs=1e-3)  # 4.68 without the input


# --- chapter 04 (article 003) ---


def test_relu_net_scaling_needs_c_to_the_l_on_layer_l_bias():
    # two ReLU layers, hand-picked so that the bias of layer 2 decides the argmax
    net = Sequential([Dense(1, 2), ReLU(), Dense(2, 2)])
    net.params["0.weight"][...] = [[1.0], [1.0]]
    net.params["0.bias"][...] = [0.0, 0.0]
    net.params["2.weight"][...] = [[1.0, 0.0], [0.0, 1.0]]
    net.params["2.bias"][...] = [0.0, 1.0]
    x = np.array([[1.0]], np.float32)
    assert net.predict(x).tolist() == [[1.0, 2.0]]  # class 1
    c = 4.0
    same_c = {k: c * v for k, v in net.params.items()}  # every weight and bias times c
    net_c = Sequential([Dense(1, 2), ReLU(), Dense(2, 2)])
    for k, v in same_c.items():
        net_c.params[k][...] = v
    # logits = c^2 W2 h + c b2 = [16, 16 + 4]: still class 1 here, but not c^2 times the original
    assert net_c.predict(x).tolist() == [[16.0, 20.0]] != (c**2 * net.predict(x)).tolist()
    # with b2 scaled by c^2 the logits are exactly c^2 times the original
    net_c.params["2.bias"][...] = c**2 * net.params["2.bias"]
    np.testing.assert_array_equal(net_c.predict(x), c**2 * net.predict(x))
    # and a case where scaling every bias by the same c flips the argmax: a negative bias
    net.params["2.bias"][...] = [0.0, -0.5]
    net.params["2.weight"][...] = [[1.0, 0.0], [0.0, 1.2]]
    assert np.argmax(net.predict(x)) == 0  # [1, 0.7]
    for k, v in net.params.items():
        net_c.params[k][...] = c * v
    assert np.argmax(net_c.predict(x)) == 1  # [16, 19.2 - 2] = [16, 17.2]


def test_clipping_keeps_parameters_macs_and_bytes():
    # article 003: clipping "reduces model size and compute" -- it changes none of the three
    net = article003_cnn(rng=0)
    before = cx.summary(net, (1, 1, 28, 28))
    nbytes = storage.model_bytes(net)
    clipping.apply_to_weights(net, clipping.clip_article003_code, 0.01)
    after = cx.summary(net, (1, 1, 28, 28))
    assert (after.total_params, after.total_macs) == (before.total_params, before.total_macs)
    assert (after.total_params, after.total_macs) == (225_034, 2_631_040)
    assert storage.model_bytes(net) == nbytes == 4 * 225_034


# --- chapter 02 (article 001) ---


def test_narrow_grid_sqnr_counts_steps_not_levels(rng):
    from minidl.compression.quantization import choose_qparams, dequantize, quantize, sqnr_db

    # the symmetric narrow b-bit grid has 2^b - 1 levels but 2^b - 2 steps over [-a, a]; for a
    # uniform signal SQNR = 20 log10(2^b - 2): 48.10 dB at 8 bits, not 20 log10(255) = 48.13
    w = rng.uniform(-1, 1, size=200_000)
    for bits in (2, 3, 4, 8):
        s, z = choose_qparams(w.min(), w.max(), bits=bits, symmetric=True, narrow_range=True)
        q = quantize(w, s, z, bits=bits, narrow_range=True)
        measured = sqnr_db(w, dequantize(q, s, z, dtype=np.float64))
        steps, levels = 2**bits - 2, 2**bits - 1
        assert int(q.max()) - int(q.min()) == steps
        # tolerance: the sampling error of 200,000 values (about 0.02 dB here)
        assert measured == pytest.approx(20 * np.log10(steps), abs=0.05)
        if bits <= 4:  # where steps and levels differ by a lot: 6.02 vs 9.54 dB at 2 bits
            assert abs(measured - 20 * np.log10(levels)) > 0.5
    assert round(20 * np.log10(254), 2) == 48.10


def test_quantization_keeps_the_parameter_count():
    from minidl.compression import quantize_weights

    # article 001's Q&A: quantization reduces "the number of parameters" -- it keeps them all
    net = article000_cnn(rng=0)
    q = quantize_weights(net, 8)
    assert cx.count_params(q) == cx.count_params(net) == 34_826
    # the bytes: 34,720 weights at one byte + 106 float32 scales + 106 float32 biases
    assert storage.model_bytes(net) == 4 * 34_826 == 139_304
    assert storage.model_bytes(q, int8=True) == 34_720 + 4 * 106 + 4 * 106 == 35_568


# --- chapter 03 (article 002) ---


def test_dense_is_a_convolution_whose_kernel_spans_the_input(rng):
    from minidl.functional import conv2d

    dense = Dense(784, 10, rng=rng, dtype=np.float64)
    x = rng.normal(size=(4, 1, 28, 28))
    y_conv = conv2d(x, dense.params["weight"].reshape(10, 1, 28, 28), dense.params["bias"])
    assert y_conv.shape == (4, 10, 1, 1)
    # float64 sums of 784 products in two orders: 1e-12 is far above rounding, far below a bug
    np.testing.assert_allclose(y_conv.reshape(4, 10), dense(x.reshape(4, 784)), atol=1e-12)


def test_article002_scalar_iteration_diverges():
    # X = w = (1..5) as 1-D arrays: X.dot(w) is one number s; the update makes s -> -3.5 s + 165
    X = np.arange(1.0, 6.0)
    y_true = 10.0 * X
    w = X.copy()
    s_values = []
    for _ in range(5):
        s = X @ w
        s_values.append(s)
        dw = X @ (s - y_true) / 5  # the article's (X.T.dot(X.dot(w) - y)).T / len(y): a scalar
        w = w - 0.1 * dw
    s_values = np.array(s_values)
    np.testing.assert_allclose(s_values[1:], -3.5 * s_values[:-1] + 165.0, rtol=1e-12)
    # the fixed point s* = 165 / 4.5 repels: the distance to it grows 3.5 times per step
    dist = np.abs(s_values - 165 / 4.5)
    np.testing.assert_allclose(dist[1:] / dist[:-1], 3.5, rtol=1e-9)


def test_article002_gradient_is_of_half_the_mse_loss(rng):
    from minidl.gradcheck import numerical_gradient

    X = rng.normal(size=(5, 2))
    y = rng.normal(size=5)
    w = rng.normal(size=2)
    loss = lambda: np.mean((y - X @ w) ** 2)  # noqa: E731  (the article's loss)
    dw = X.T @ (X @ w - y) / len(y)  # the article's dw
    # central differences of the MSE, float64: ~1e-9 relative
    np.testing.assert_allclose(numerical_gradient(loss, w), 2 * dw, rtol=1e-7)


# --- chapter 05 (article 004) ---


def _digits_model():
    """Chapter 05's model: 64 -> 64 -> 10 on the 8x8 digits, its split and training."""
    import minidl
    from minidl.datasets import load_digits
    from minidl.optim import Adam

    X, y = load_digits(scale=True)
    order = np.random.default_rng(0).permutation(len(y))
    tr, te = order[:1200], order[1200:]
    model = minidl.Sequential([Flatten(), Dense(64, 64, rng=0), ReLU(), Dense(64, 10, rng=0)])
    model.fit(X[tr], y[tr], 15, 50, Adam(3e-3), CrossEntropyLoss(), rng=0, verbose=False)
    return model, X[te], y[te]


def test_literal_pipeline_is_the_quantized_net_with_its_last_bias_shrunk(rng):
    from minidl.compression.pipeline import article004_pipeline

    model = Sequential(
        [Dense(6, 8, rng=rng, dtype=np.float64), ReLU(), Dense(8, 3, rng=rng, dtype=np.float64)]
    )
    X = rng.normal(size=(20, 6))
    y = rng.integers(0, 3, 20)
    _, literal = article004_pipeline(model, X, y, literal=True, alpha=0.0, threshold=0.0)
    # by hand: codes round(256 v) (np.round), values codes / 256; the literal logits are 256^2
    # times those of the fixed-point net whose last bias is divided by 256
    hat = {k: np.round(256 * v) / 256 for k, v in model.params.items()}
    h = np.maximum(X @ hat["0.weight"].T + hat["0.bias"], 0)
    expected = 256.0**2 * (h @ hat["2.weight"].T + hat["2.bias"] / 256)
    np.testing.assert_allclose(literal.predict(X), expected, rtol=1e-12)


def test_article004_pipeline_does_not_improve_accuracy_beyond_noise():
    from minidl.compression.pipeline import article004_pipeline

    model, X, y = _digits_model()
    rows, _ = article004_pipeline(model, X, y)
    n = len(y)
    changed = abs(rows[-1]["accuracy"] - rows[0]["accuracy"]) * n
    standard_error = np.sqrt(rows[0]["accuracy"] * (1 - rows[0]["accuracy"]) / n)
    assert n == 597 and standard_error > 0.006  # ~0.7 points at 97% on 597 digits
    assert round(changed) <= 2  # at most two digits of 597 change class: 0.34 points
    assert abs(rows[-1]["accuracy"] - rows[0]["accuracy"]) < standard_error
