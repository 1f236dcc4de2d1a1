"""Sequential: composition, backward (gradcheck), keys, state dicts, fit/evaluate/predict."""

import numpy as np
import pytest

from minidl.gradcheck import numerical_gradient, rel_error
from minidl.layers.activations import ReLU
from minidl.layers.base import Layer
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.losses import CrossEntropyLoss, MSELoss
from minidl.nn.model import Sequential
from minidl.optim import SGD, StepLR


class AffineForTests(Layer):
    """Test-local y = a * x + c with scalar-per-feature params under dotted names, a buffer
    counting forwards, and a backward that REBINDS its grads (a new array each time)."""

    def __init__(self, n, dtype=np.float64):
        super().__init__()
        self.n = n
        rng = np.random.default_rng(n)
        self.params = {"scale.weight": rng.normal(size=n).astype(dtype), "shift": np.zeros(n)}
        self.params["shift"] = self.params["shift"].astype(dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"calls": np.zeros(1, dtype=dtype)}

    def forward(self, x):
        self._cache = x
        if self.training:
            self.buffers["calls"] += 1
        return x * self.params["scale.weight"] + self.params["shift"]

    def backward(self, dy):
        x = self._cache
        self.grads = {"scale.weight": (dy * x).sum(0), "shift": dy.sum(0)}  # rebinds
        return dy * self.params["scale.weight"]

    def get_config(self):
        return {"n": self.n, "dtype": str(self.params["shift"].dtype)}


class BatchRecorderForTests(Layer):
    """Identity that remembers every batch it sees (to check fit's shuffling)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.copy())
        return x

    def backward(self, dy):
        return dy


def mlp(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        [Dense(4, 8, dtype=dtype, rng=rng), ReLU(), Dense(8, 3, dtype=dtype, rng=rng)]
    )


# --- forward / backward ----------------------------------------------------------------------


def test_forward_is_the_composition(rng):
    model = mlp()
    x = rng.normal(size=(5, 4))
    w0, b0, w1, b1 = (model.params[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    want = np.maximum(x @ w0.T + b0, 0) @ w1.T + b1
    np.testing.assert_allclose(model(x), want, rtol=1e-14)
    assert model.output_shape((5, 4)) == (5, 3)


def test_backward_gradcheck_float64(rng):
    layers = [AffineForTests(6), Dense(6, 5, dtype=np.float64, rng=rng), ReLU()]
    model = Sequential([*layers, Dense(5, 2, dtype=np.float64, rng=rng)])
    x = rng.normal(size=(4, 6))
    dy = rng.normal(size=(4, 2))
    model.forward(x)
    dx = model.backward(dy)
    grads = {k: v.copy() for k, v in model.grads.items()}
    f = lambda: np.sum(model.forward(x) * dy)
    assert rel_error(dx, numerical_gradient(f, x)) < 1e-7
    for k, p in model.params.items():
        assert rel_error(grads[k], numerical_gradient(f, p)) < 1e-7, k


def test_backward_without_input_grad_gives_the_same_param_grads(rng):
    """input_grad=False (what fit uses) returns None; every parameter gradient is unchanged
    (to float64 rounding: a conv first layer skips its dx and sums its weight gradient image
    by image), with a conv first layer and with a Dense one (default path)."""
    from minidl.layers.conv import Conv2D

    conv_first = Sequential([Conv2D(2, 3, 3, dtype=np.float64, rng=rng), Flatten(),
                             Dense(3 * 3 * 3, 2, dtype=np.float64, rng=rng)])  # fmt: skip
    cases = ((conv_first, rng.normal(size=(4, 2, 5, 5))), (mlp(), rng.normal(size=(4, 4))))
    for model, x in cases:
        dy = rng.normal(size=model(x).shape)
        model.backward(dy)
        grads = {k: v.copy() for k, v in model.grads.items()}
        for g in model.grads.values():
            g[...] = np.nan
        assert model.backward(dy, input_grad=False) is None
        for k, g in model.grads.items():
            np.testing.assert_allclose(g, grads[k], rtol=0, atol=1e-13)


def test_backward_through_flatten_returns_input_shape(rng):
    model = Sequential([Flatten(), Dense(12, 2, dtype=np.float64, rng=rng)])
    x = rng.normal(size=(3, 2, 2, 3))
    model(x)
    assert model.backward(rng.normal(size=(3, 2))).shape == x.shape


# --- params / grads / state_dict -------------------------------------------------------------


def test_params_keys_and_identity():
    model = mlp()
    assert list(model.params) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.params["2.weight"] is model.layers[2].params["weight"]
    assert model.grads["0.bias"] is model.layers[0].grads["bias"]


def test_dotted_param_names_and_buffers():
    model = Sequential([Dense(3, 3, dtype=np.float64), AffineForTests(3)])
    assert list(model.params) == ["0.weight", "0.bias", "1.scale.weight", "1.shift"]
    assert list(model.state_dict()) == [*model.params, "1.calls"]
    assert model.buffers == {"1.calls": model.layers[1].buffers["calls"]}


def test_grads_are_current_after_a_layer_rebinds_them(rng):
    model = Sequential([AffineForTests(3)])
    model(rng.normal(size=(2, 3)))
    model.backward(np.ones((2, 3)))
    assert model.grads["0.shift"] is model.layers[0].grads["shift"]
    np.testing.assert_array_equal(model.grads["0.shift"], [2.0, 2.0, 2.0])


def test_optimizer_step_through_model_dicts_updates_layers(rng):
    model = mlp()
    model(rng.normal(size=(2, 4)))
    model.backward(rng.normal(size=(2, 3)))
    w_before = model.layers[0].params["weight"].copy()
    SGD(0.5).step(model.params, model.grads)
    np.testing.assert_allclose(
        model.layers[0].params["weight"], w_before - 0.5 * model.layers[0].grads["weight"]
    )


def test_load_state_dict_copies_in_place():
    src, dst = mlp(seed=1), mlp(seed=2)
    arrays_before = dst.state_dict()
    dst.load_state_dict({k: v.copy() for k, v in src.state_dict().items()})
    for k, v in dst.state_dict().items():
        assert v is arrays_before[k]
        np.testing.assert_array_equal(v, src.state_dict()[k])


def test_load_state_dict_ignores_num_batches_tracked():
    src, dst = mlp(seed=1), mlp(seed=2)
    state = {k: v.copy() for k, v in src.state_dict().items()}
    state["1.num_batches_tracked"] = np.array(5)
    dst.load_state_dict(state)
    np.testing.assert_array_equal(dst.params["0.weight"], src.params["0.weight"])


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda s: s.pop("2.bias"), r"missing keys \['2.bias'\]"),
        (lambda s: s.update({"3.weight": np.zeros(2)}), r"unexpected keys \['3.weight'\]"),
        (lambda s: s.update({"0.weight": np.zeros((4, 8))}), r"'0.weight': expected shape"),
        (lambda s: s.update({"0.bias": np.zeros(8, np.float32)}), r"'0.bias': expected dtype"),
        (lambda s: s["2.weight"].__setitem__((0, 0), np.nan), r"'2.weight': contains NaN"),
    ],
)
def test_load_state_dict_errors_change_nothing(edit, match):
    src, dst = mlp(seed=1), mlp(seed=2)
    state = {k: v.copy() for k, v in src.state_dict().items()}
    edit(state)
    before = {k: v.copy() for k, v in dst.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        dst.load_state_dict(state)
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_reports_all_problems_together():
    state = {k: v.copy() for k, v in mlp().state_dict().items()}
    del state["0.bias"]
    state["9.x"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['0.bias'\]; unexpected keys \['9.x'\]"):
        mlp().load_state_dict(state)
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        mlp().load_state_dict([1, 2])


def test_train_eval_propagate():
    model = mlp()
    assert model.eval() is model and not any(layer.training for layer in model)
    assert model.train() is model and all(layer.training for layer in model)


@pytest.mark.parametrize("layers", [[], [Dense(2, 2), "relu"], None])
def test_constructor_bad_inputs(layers):
    with pytest.raises(TypeError, match="layers"):
        Sequential(layers)


# --- fit / evaluate / predict ----------------------------------------------------------------


def blobs(rng, n=120, dtype=np.float32):
    y = rng.integers(0, 3, size=n)
    centers = 5.0 * np.eye(3, 4)  # 7 noise std apart: separable
    return (centers[y] + rng.normal(size=(n, 4))).astype(dtype), y


def test_fit_learns_separable_blobs(rng):
    X, y = blobs(rng)
    model = mlp(np.float32)
    hist = model.fit(
        X[:90], y[:90], 15, 16, SGD(0.1, momentum=0.9), CrossEntropyLoss(),
        validation_data=(X[90:], y[90:]), rng=0, verbose=False,
    )  # fmt: skip
    assert set(hist) == {"lr", "loss", "accuracy", "val_loss", "val_accuracy", "batch_loss"}
    assert all(len(v) == 15 for v in hist.values())
    assert hist["loss"][-1] < 0.3 * hist["loss"][0]
    assert hist["val_accuracy"][-1] >= 0.95
    assert model.params["0.weight"].dtype == np.float32


def test_fit_full_batch_is_one_gradient_step():
    # one Dense, MSE, batch = everything: one epoch = W <- W - lr * 2/(N m) (XW^T + b - Y)^T X
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = Sequential([Dense(3, 2, dtype=np.float64, rng=rng)])
    W, b = model.params["0.weight"].copy(), model.params["0.bias"].copy()
    R = X @ W.T + b - Y
    model.fit(X, Y, 1, 6, SGD(0.1), MSELoss(), rng=0, verbose=False)
    np.testing.assert_allclose(model.params["0.weight"], W - 0.1 * 2 / 12 * R.T @ X, rtol=1e-13)
    np.testing.assert_allclose(model.params["0.bias"], b - 0.1 * 2 / 12 * R.sum(0), rtol=1e-13)


def test_fit_shuffles_with_the_given_rng():
    X = np.arange(10, dtype=np.float64).reshape(10, 1)
    rec = BatchRecorderForTests()
    model = Sequential([rec, Dense(1, 2, dtype=np.float64)])
    hist = model.fit(X, np.zeros(10, int), 2, 4, SGD(0.0), CrossEntropyLoss(), rng=7, verbose=0)
    seen = np.concatenate(rec.seen).ravel()
    want_rng = np.random.default_rng(7)
    want = np.concatenate([want_rng.permutation(10), want_rng.permutation(10)])
    np.testing.assert_array_equal(seen, want)
    assert [len(b) for b in rec.seen] == [4, 4, 2] * 2
    assert "val_loss" not in hist


def test_fit_same_seed_same_history_other_seed_differs(rng):
    X, y = blobs(rng, 40)
    run = lambda seed: mlp(np.float32).fit(
        X, y, 2, 8, SGD(0.1), CrossEntropyLoss(), rng=seed, verbose=False
    )["loss"]
    assert run(1) == run(1) and run(1) != run(2)


def test_fit_progress_bar_on_stderr_and_silent_when_not_verbose(rng, capsys):
    X, y = blobs(rng, 20)
    mlp(np.float32).fit(X, y, 2, 5, SGD(0.1), CrossEntropyLoss(), rng=0, verbose=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "accuracy=" in err
    mlp(np.float32).fit(X, y, 2, 5, SGD(0.1), CrossEntropyLoss(), rng=0, verbose=False)
    assert capsys.readouterr().err == ""


def test_fit_scheduler_and_early_stopping(rng):
    X, y = blobs(rng, 20)
    opt = SGD(1.0)
    calls = []
    stop = lambda epoch, logs: calls.append((epoch, logs["lr"])) or epoch == 2
    hist = mlp(np.float32).fit(
        X, y, 10, 5, opt, CrossEntropyLoss(), rng=0, verbose=False,
        scheduler=StepLR(opt, step_size=1, gamma=0.5), callbacks=[stop],
    )  # fmt: skip
    assert hist["lr"] == [1.0, 0.5, 0.25] and len(hist["loss"]) == 3
    assert calls == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_fit_regression_has_no_accuracy(rng):
    X = rng.normal(size=(8, 4))
    hist = mlp().fit(
        X, rng.normal(size=(8, 3)), 1, 4, SGD(0.01), MSELoss(), verbose=False, callbacks=None
    )
    assert "accuracy" not in hist and len(hist["loss"]) == 1


def test_fit_binary_accuracy_from_one_logit():
    X = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    model = Sequential([Dense(1, 1, dtype=np.float64)])
    model.params["0.weight"][...] = 1.0
    model.params["0.bias"][...] = 0.0
    _, acc = model.evaluate(X, np.array([[1.0], [0.0], [0.0], [0.0]]), MSELoss())
    assert acc == 0.75


def test_evaluate_and_predict_match_one_shot_and_restore_mode(rng):
    X, y = blobs(rng, 50, np.float64)
    model = mlp()
    logits = model.predict(X, batch_size=7)
    assert model.training
    np.testing.assert_allclose(logits, model.eval()(X), rtol=1e-13)
    model.train()
    loss, acc = model.evaluate(X, y, CrossEntropyLoss(), batch_size=7)
    assert loss == pytest.approx(CrossEntropyLoss()(logits, y), rel=1e-13)
    assert acc == np.mean(logits.argmax(1) == y)
    assert model.training


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(y=np.zeros(5, int)), ValueError, "y must have one target per sample"),
        (dict(X=np.zeros((6, 4), int)), TypeError, "X must have dtype"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(optimizer="sgd"), TypeError, "optimizer"),
        (dict(loss=np.mean), TypeError, "loss"),
        (dict(validation_data=np.zeros(3)), TypeError, "validation_data"),
        (dict(validation_data=(np.zeros((2, 4)), [0])), ValueError, "validation_data\\[1\\]"),
        (dict(callbacks=[3]), TypeError, "callbacks"),
    ],
)
def test_fit_bad_inputs(kwargs, exc, match):
    args = dict(
        X=np.zeros((6, 4)), y=np.zeros(6, int), epochs=1, batch_size=2, optimizer=SGD(0.1),
        loss=CrossEntropyLoss(), verbose=False,
    ) | kwargs  # fmt: skip
    with pytest.raises(exc, match=match):
        mlp().fit(**args)


@pytest.mark.parametrize("where", ["X", "y", "validation X"])
def test_fit_refuses_nan_before_batch_norm_sees_it(tmp_path, where):
    """Issue 17, item 12: a NaN in X used to be averaged into BatchNorm's running mean before
    the loss raised, and the poisoned model then saved a file load refuses. Now fit refuses
    it before the first batch: the running statistics and the weights are untouched."""
    from minidl.layers.batchnorm import BatchNorm1D

    rng = np.random.default_rng(0)
    model = Sequential([Dense(4, 8, rng=rng), BatchNorm1D(8), ReLU(), Dense(8, 1, rng=rng)])
    before = {k: v.copy() for k, v in model.state_dict().items()}
    X, y = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 1)).astype(np.float32)
    val = (X.copy(), y.copy())
    bad = {"X": X, "y": y, "validation X": val[0]}[where]
    bad[3, 0] = np.nan
    name = {"X": "X", "y": "y", "validation X": r"validation_data\[0\]"}[where]
    message = name + r" contains NaN or inf \(1 values, the first in sample 3\)"
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, epochs=1, batch_size=4, optimizer=SGD(0.1), loss=MSELoss(),
                  validation_data=val, verbose=False)  # fmt: skip
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    model.save(tmp_path / "m.npz")  # still a model load accepts
    Sequential.load(tmp_path / "m.npz")


def test_predict_restores_training_mode_after_an_error():
    model = mlp()
    with pytest.raises(ValueError, match="in_features=4"):
        model.predict(np.zeros((2, 5)))
    assert model.training and all(layer.training for layer in model)


def test_predict_evaluate_bad_inputs():
    with pytest.raises(TypeError, match="X must have dtype"):
        mlp().predict(np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="X must hold at least one sample"):
        mlp().predict(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="batch_size"):
        mlp().evaluate(np.zeros((2, 4)), [0, 1], CrossEntropyLoss(), batch_size=0)


def test_summary_delegates_to_complexity():
    complexity = pytest.importorskip("minidl.nn.complexity")
    model = mlp()
    assert repr(model.summary((1, 4))) == repr(complexity.summary(model.layers, (1, 4)))


# --- with the convolutional layers -----------------------------------------------------------


def cnn(dtype=np.float32, seed=0):
    from minidl.layers.batchnorm import BatchNorm2D
    from minidl.layers.conv import Conv2D
    from minidl.layers.pool import MaxPool2D

    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(1, 4, 3, padding=1, dtype=dtype, rng=rng), BatchNorm2D(4, dtype=dtype), ReLU(),
        MaxPool2D(2), Flatten(), Dense(16, 4, dtype=dtype, rng=rng),
    ])  # fmt: skip


def quadrant_images(rng, n):
    """4x4 images whose class is the quadrant holding a bright 2x2 patch."""
    y = rng.integers(0, 4, size=n)
    X = 0.3 * rng.normal(size=(n, 1, 4, 4))
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        X[i, 0, 2 * r : 2 * r + 2, 2 * q : 2 * q + 2] += 2.0
    return X.astype(np.float32), y


def test_fit_cnn_with_batchnorm(rng):
    X, y = quadrant_images(rng, 96)
    model = cnn()
    running_before = model.buffers["1.running_mean"].copy()
    hist = model.fit(
        X[:64], y[:64], 8, 16, SGD(0.1, momentum=0.9), CrossEntropyLoss(),
        validation_data=(X[64:], y[64:]), rng=1, verbose=False,
    )  # fmt: skip
    assert hist["val_accuracy"][-1] >= 0.95
    assert not np.array_equal(model.buffers["1.running_mean"], running_before)
    # evaluation uses the running statistics: one sample alone gets the same logits as in a batch
    logits = model.predict(X[64:])
    np.testing.assert_allclose(model.predict(X[64:65]), logits[:1], rtol=1e-5, atol=1e-6)


def test_num_batches_tracked_loaded_only_when_both_sides_have_it():
    model = Sequential([AffineForTests(2)])
    model.layers[0].buffers["num_batches_tracked"] = np.array(0)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    state["0.num_batches_tracked"] = np.array(7)
    model.load_state_dict(state)
    assert model.buffers["0.num_batches_tracked"] == 7
    del state["0.num_batches_tracked"]
    model.load_state_dict(state)  # absent from the dict: not required
    assert model.buffers["0.num_batches_tracked"] == 7


def test_history_keeps_every_batch_loss_and_the_epoch_loss_is_their_weighted_mean(rng):
    X, y = blobs(rng, n=50)
    hist = mlp().fit(X, y, 3, 16, SGD(0.1), CrossEntropyLoss(), rng=0, verbose=False)
    sizes = [16, 16, 16, 2]  # 50 samples in batches of 16
    for epoch in range(3):
        batch = hist["batch_loss"][epoch]
        assert len(batch) == 4
        assert hist["loss"][epoch] == pytest.approx(np.dot(batch, sizes) / 50, rel=1e-6)


def test_evaluate_defaults_to_the_fitted_loss_else_cross_entropy(rng):
    X, y = blobs(rng, n=40)
    model = mlp()
    explicit = model.evaluate(X, y, CrossEntropyLoss())
    assert model.evaluate(X, y) == explicit  # not fitted, integer labels: cross-entropy
    targets = np.eye(3)[y]
    with pytest.raises(TypeError, match="loss"):
        model.evaluate(X, targets)  # float targets and no fitted loss: ask for one
    model.fit(X, targets, 1, 8, SGD(0.01), MSELoss(), rng=0, verbose=False)
    mse = model.evaluate(X, targets, MSELoss())
    assert model.evaluate(X, targets) == mse
    assert mse[0] != pytest.approx(model.evaluate(X, y, CrossEntropyLoss())[0])  # not CE


def test_top_level_save_and_load_round_trip(tmp_path, rng):
    import minidl

    model = mlp()
    minidl.save(model, tmp_path / "m.npz")
    loaded = minidl.load(tmp_path / "m.npz")
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(TypeError, match="model"):
        minidl.save({"0.weight": np.zeros(3)}, tmp_path / "d.npz")
