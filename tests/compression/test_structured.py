"""Structured pruning: the smaller network equals the masked one, through BatchNorm and Flatten,
and its summary counts fewer parameters and MACs."""

import copy

import numpy as np
import pytest

from minidl.compression.pruning import apply_masks
from minidl.compression.structured import (
    ln_structured_mask,
    prune_units,
    structured_masks,
    unit_norms,
    units_to_keep,
)
from minidl.layers.activations import ReLU, Sigmoid
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _cnn(rng, dtype=np.float64):
    kw = dict(rng=rng, dtype=dtype)
    model = Sequential(
        [
            Conv2D(1, 6, 3, **kw),
            BatchNorm2D(6, dtype=dtype),
            ReLU(),
            MaxPool2D(2),
            Conv2D(6, 8, 3, padding=1, **kw),
            ReLU(),
            Flatten(),
            Dense(8 * 3 * 3, 10, **kw),
            BatchNorm1D(10, dtype=dtype),
            ReLU(),
            Dense(10, 4, **kw),
        ]
    )
    x = rng.normal(size=(16, 1, 8, 8)).astype(dtype)
    model.train()
    model(x)  # BatchNorm running statistics that are not the defaults
    for layer in model.layers:  # non-trivial gamma / beta
        if isinstance(layer, (BatchNorm1D, BatchNorm2D)):
            layer.params["weight"][...] = rng.uniform(0.5, 2, layer.num_features)
            layer.params["bias"][...] = rng.normal(size=layer.num_features)
    return model.eval(), x


def test_unit_norms_hand_case():
    w = np.array([[1.0, -2.0], [3.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(unit_norms(w, 1), [3, 3, 0.5])
    np.testing.assert_allclose(unit_norms(w, 2), [np.sqrt(5), 3, 0.5])
    np.testing.assert_array_equal(units_to_keep(w, 1 / 3, p=2), [0, 1])
    np.testing.assert_array_equal(ln_structured_mask(w, 1 / 3, p=1), [[1, 1], [1, 1], [0, 0]])


@pytest.mark.parametrize("amount", [0.25, 0.5, {0: 0.5}, {7: 0.6}])
def test_smaller_network_equals_masked_network(rng, amount):
    model, x = _cnn(rng)
    masked = copy.deepcopy(model)
    apply_masks(masked, structured_masks(model, amount))
    small, keeps = prune_units(model, amount, x.shape)
    np.testing.assert_allclose(small.predict(x), masked.predict(x), rtol=1e-12, atol=1e-12)
    # and it is genuinely smaller, counted by summary
    big_s, small_s = model.summary(x.shape), small.summary(x.shape)
    assert small_s.total_params < big_s.total_params
    assert small_s.total_macs < big_s.total_macs
    for i, keep in keeps.items():
        assert small.layers[i].params["weight"].shape[0] == len(keep)


def test_pruned_network_counts_by_hand(rng):
    model, x = _cnn(rng)
    small, _ = prune_units(model, 0.5, x.shape)
    # conv1 6 -> 3, conv2 8 -> 4, dense 10 -> 5 (the output layer keeps its 4 classes)
    expect = (3 * 9 + 3) + 2 * 3 + (4 * 3 * 9 + 4) + (5 * 36 + 5) + 2 * 5 + (4 * 5 + 4)
    assert small.summary(x.shape).total_params == expect
    assert small.layers[7].in_features == 4 * 9


def test_prune_units_leaves_original_untouched_and_can_train(rng):
    model, x = _cnn(rng, dtype=np.float32)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    small, _ = prune_units(model, 0.5, x.shape)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    small.train()
    out = small(x)
    small.backward(np.ones_like(out) / out.size)
    assert all(np.all(np.isfinite(g)) for g in small.grads.values())


def test_structured_bad_inputs(rng):
    model, x = _cnn(rng)
    with pytest.raises(ValueError, match="amount"):
        structured_masks(model, 1.2)
    with pytest.raises(ValueError, match="amount"):
        prune_units(model, {10: 0.5}, x.shape)  # the output layer is never pruned
    with pytest.raises(ValueError, match="would remove all"):
        units_to_keep(np.ones((2, 3)), 0.9)
    with pytest.raises(ValueError, match="p must"):
        unit_norms(np.ones((2, 3)), 3)
    sig = Sequential([Dense(4, 6, rng=rng), Sigmoid(), Dense(6, 2, rng=rng)])
    with pytest.raises(TypeError, match="Sigmoid"):
        prune_units(sig, 0.5, (1, 4))
    grouped = Sequential(
        [Conv2D(2, 4, 3, groups=2, rng=rng), ReLU(), Flatten(), Dense(4, 2, rng=rng)]
    )
    with pytest.raises(TypeError, match="groups"):
        structured_masks(grouped, 0.5)
