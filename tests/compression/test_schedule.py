"""Gradual schedule (Zhu & Gupta 2017) and prune-and-fine-tune with masks held in training."""

import copy

import numpy as np
import pytest

from minidl.compression.pruning import apply_masks, model_masks, prunable_weights, sparsity_of
from minidl.compression.schedule import (
    MaskedOptimizer,
    check_masks_held,
    gradual_sparsity,
    prune_and_finetune,
)
from minidl.layers.activations import ReLU
from minidl.layers.dense import Dense
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.optim import SGD, Adam, StepLR


def test_gradual_sparsity_formula_by_hand():
    # s_f = 0.8, s_i = 0, t0 = 2, n = 4, dt = 3: t = 5 is a quarter of the way
    assert gradual_sparsity(5, 0.8, 0.0, t0=2, n=4, dt=3) == pytest.approx(0.8 * (1 - 0.75**3))
    assert gradual_sparsity(2, 0.8, 0.1, t0=2, n=4, dt=3) == 0.1
    assert gradual_sparsity(14, 0.8, 0.1, t0=2, n=4, dt=3) == 0.8
    assert gradual_sparsity(0, 0.8, 0.1, t0=2, n=4, dt=3) == 0.1
    s = [gradual_sparsity(t, 0.9, n=10) for t in range(11)]
    steps = np.diff(s)
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)  # rises fast, then slowly


def _data(rng):
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def _net(rng):
    return Sequential([Dense(6, 32, rng=rng), ReLU(), Dense(32, 3, rng=rng)])


@pytest.mark.parametrize(
    "opt", [lambda: SGD(0.1, momentum=0.9, weight_decay=1e-2), lambda: Adam(1e-2)]
)
def test_masked_optimizer_holds_zeros_through_fit(rng, opt):
    X, y = _data(rng)
    model = _net(rng)
    masks = model_masks(model, 0.6)
    masked = MaskedOptimizer(opt(), masks)
    for k, m in masks.items():
        model.params[k] *= m
    model.fit(X, y, 3, 16, masked, CrossEntropyLoss(), rng=0, verbose=False)
    assert check_masks_held(model, masks)
    # the unmasked weights did train
    assert sparsity_of(prunable_weights(model)) == pytest.approx(0.6, abs=0.01)


def test_unwrapped_optimizer_would_revive_pruned_weights(rng):
    X, y = _data(rng)
    model = _net(rng)
    masks = model_masks(model, 0.6)
    for k, m in masks.items():
        model.params[k] *= m
    model.fit(X, y, 1, 16, Adam(1e-2), CrossEntropyLoss(), rng=0, verbose=False)
    assert not check_masks_held(model, masks)


def test_masked_optimizer_passes_lr_through(rng):
    inner = SGD(0.1)
    masked = MaskedOptimizer(inner, {})
    StepLR(inner, step_size=1, gamma=0.5).step()  # schedulers take the minidl optimizer inside
    assert masked.lr == pytest.approx(0.05)
    masked.lr = 0.02
    assert inner.lr == pytest.approx(0.02)


def test_prune_and_finetune_reaches_target_and_keeps_accuracy(rng):
    X, y = _data(rng)
    model = _net(rng)
    model.fit(X, y, 20, 16, Adam(1e-2), CrossEntropyLoss(), rng=0, verbose=False)
    acc0 = np.mean(np.argmax(model.predict(X), 1) == y)
    one_shot = copy.deepcopy(model)
    apply_masks(one_shot, model_masks(one_shot, 0.8, scope="global"))
    acc_one_shot = np.mean(np.argmax(one_shot.predict(X), 1) == y)
    masks, rows = prune_and_finetune(
        model,
        X,
        y,
        Adam(1e-2),
        CrossEntropyLoss(),
        0.8,
        n_steps=4,
        epochs_per_step=5,
        validation_data=(X, y),
        rng=1,
    )
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["target_sparsity"] == 0.8
    assert rows[-1]["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert check_masks_held(model, masks)
    assert rows[-1]["val_accuracy"] > acc_one_shot + 0.05  # fine-tuning recovers accuracy
    assert rows[-1]["val_accuracy"] >= acc0 - 0.1


def test_schedule_bad_inputs():
    with pytest.raises(ValueError, match="final_sparsity"):
        gradual_sparsity(1, 1.5)
    with pytest.raises(ValueError, match="n must"):
        gradual_sparsity(1, 0.5, n=0)
    with pytest.raises(TypeError, match="optimizer"):
        MaskedOptimizer(object(), {})
    with pytest.raises(ValueError, match="masks has key"):
        MaskedOptimizer(SGD(0.1), {"x": np.ones(1)}).step({}, {})
