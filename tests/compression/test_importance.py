"""Loss-importance pruning (article 000): Taylor |w g|, OBD 1/2 h_ii w^2 with an exact Hessian
diagonal checked against numerical second derivatives of the loss."""

import numpy as np
import pytest

from minidl.compression.importance import (
    dense_ce_hessian_diag,
    hessian_diag_fd,
    obd_saliency,
    obd_scores,
    taylor_scores,
)
from minidl.gradcheck import numerical_hessian_diag
from minidl.layers.activations import Tanh
from minidl.layers.dense import Dense
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential


def _net(rng):
    kw = dict(dtype=np.float64, rng=rng)
    return Sequential([Dense(4, 5, **kw), Tanh(), Dense(5, 3, **kw)])


def _data(rng, n=12):
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


def _second_derivative(model, X, y, key, h=1e-4):
    """(L(w + h e_i) - 2 L(w) + L(w - h e_i)) / h^2 for every weight: loss values only."""
    loss = CrossEntropyLoss()
    return numerical_hessian_diag(lambda: loss(model.forward(X), y), model.params[key], h)


def test_closed_form_last_layer_hessian_matches_numerical(rng):
    model = _net(rng)
    X, y = _data(rng)
    hidden = model.layers[1].forward(model.layers[0].forward(X))
    last = model.layers[2]
    h_w, h_b = dense_ce_hessian_diag(hidden, last.params["weight"], last.params["bias"])
    num = _second_derivative(model, X, y, "2.weight")
    np.testing.assert_allclose(h_w, num, rtol=1e-5, atol=1e-8)
    num_b = _second_derivative(model, X, y, "2.bias")
    np.testing.assert_allclose(h_b, num_b, rtol=1e-5, atol=1e-8)


def test_fd_hessian_of_hidden_layer_matches_numerical(rng):
    model = _net(rng)
    X, y = _data(rng)
    h = hessian_diag_fd(model, X, y, CrossEntropyLoss(), "0.weight")
    num = _second_derivative(model, X, y, "0.weight")
    np.testing.assert_allclose(h, num, rtol=1e-4, atol=1e-7)
    assert np.any(h < 0)  # away from a minimum the hidden layer's curvature is indefinite


def test_obd_saliency_predicts_loss_increase_at_a_quadratic():
    # L(w) = 1/2 sum h_i (w_i - 0)^2 around the minimum w* = w0: deleting w_i costs 1/2 h w^2
    w = np.array([1.0, -2.0, 0.5])
    h = np.array([2.0, 0.1, 8.0])
    np.testing.assert_allclose(obd_saliency(w, h), [1.0, 0.2, 1.0])


def test_taylor_scores_equal_abs_w_times_full_batch_gradient(rng):
    model = _net(rng)
    X, y = _data(rng, 30)
    scores = taylor_scores(model, X, y, CrossEntropyLoss(), batch_size=7)  # 5 uneven batches
    loss = CrossEntropyLoss()
    loss(model.forward(X), y)
    model.backward(loss.backward())
    for k in ("0.weight", "2.weight"):
        np.testing.assert_allclose(
            scores[k], np.abs(model.params[k] * model.grads[k]), rtol=1e-12, atol=1e-15
        )


def test_obd_scores_uses_both_routes(rng):
    model = _net(rng)
    X, y = _data(rng)
    scores = obd_scores(model, X, y, CrossEntropyLoss(), ["0.weight", "2.weight"])
    num = _second_derivative(model, X, y, "2.weight")
    np.testing.assert_allclose(
        scores["2.weight"], 0.5 * num * model.params["2.weight"] ** 2, rtol=1e-5, atol=1e-9
    )
    assert scores["0.weight"].shape == (5, 4)


def test_importance_bad_inputs(rng):
    model = _net(rng)
    X, y = _data(rng)
    with pytest.raises(ValueError, match="keys"):
        taylor_scores(model, X, y, CrossEntropyLoss(), keys=["7.weight"])
    with pytest.raises(ValueError, match="h_diag"):
        obd_saliency(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="x must have 5 columns"):
        dense_ce_hessian_diag(np.ones((2, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="eps"):
        hessian_diag_fd(model, X, y, CrossEntropyLoss(), "0.weight", eps=0)
    f32 = Sequential([Dense(4, 3, rng=rng)])
    with pytest.raises(TypeError, match="float64"):
        hessian_diag_fd(f32, X.astype(np.float32), y, CrossEntropyLoss(), "0.weight")


def test_obd_and_taylor_pruning_hurt_less_than_random(rng):
    """Train a small net, prune 60% of its last layer by OBD, by Taylor and by a random mask:
    the loss-aware criteria must raise the training loss less than random pruning does."""
    from minidl.compression.pruning import mask_from_scores
    from minidl.optim import Adam

    X = rng.normal(size=(150, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    model = _net(rng)
    model.fit(X, y, 40, 16, Adam(1e-2), CrossEntropyLoss(), rng=0, verbose=False)
    loss = CrossEntropyLoss()
    base = loss(model.forward(X), y)
    w = model.params["2.weight"]
    saved = w.copy()

    def loss_with(mask):
        w[...] = saved * mask
        out = loss(model.forward(X), y)
        w[...] = saved
        return out - base

    obd = obd_scores(model, X, y, loss, ["2.weight"])["2.weight"]
    taylor = taylor_scores(model, X, y, loss, keys=["2.weight"])["2.weight"]
    random_costs = [loss_with(mask_from_scores(rng.random(w.shape), 0.6)) for _ in range(10)]
    assert loss_with(mask_from_scores(obd, 0.6)) < np.mean(random_costs)
    assert loss_with(mask_from_scores(taylor, 0.6)) < np.mean(random_costs)
