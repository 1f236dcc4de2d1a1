"""Unstructured pruning: threshold (article 003), magnitude per layer / global, masks, scan."""

import numpy as np
import pytest

from minidl.compression.pruning import (
    apply_masks,
    check_sparsity,
    global_magnitude_masks,
    magnitude_mask,
    magnitude_mask_naive,
    mask_from_scores,
    model_masks,
    prunable_weights,
    sensitivity_scan,
    sparsity_of,
    threshold_prune,
    threshold_prune_literal,
)
from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _tiny(rng):
    return Sequential(
        [
            Conv2D(1, 3, 3, rng=rng),
            ReLU(),
            Flatten(),
            Dense(3 * 4 * 4, 5, rng=rng),
            ReLU(),
            Dense(5, 3, rng=rng),
        ]
    )


def test_threshold_prune_hand_case_and_literal_difference():
    w = np.array([-0.5, -0.05, 0.0, 0.05, 0.2, 0.5])
    # corrected w * I(|w| > h), h = 0.1: both large weights survive, whatever the sign
    np.testing.assert_array_equal(threshold_prune(w, 0.1), [-0.5, 0, 0, 0, 0.2, 0.5])
    # the article's w * I(w > h) deletes every negative weight, -0.5 included
    np.testing.assert_array_equal(threshold_prune_literal(w, 0.1), [0, 0, 0, 0, 0.2, 0.5])


def test_literal_threshold_removes_half_of_a_symmetric_layer(rng):
    w = rng.normal(size=10000)
    kept_literal = np.count_nonzero(threshold_prune_literal(w, 0.0)) / w.size
    kept = np.count_nonzero(threshold_prune(w, 0.0)) / w.size
    assert kept == 1.0 and abs(kept_literal - 0.5) < 0.02


@pytest.mark.parametrize("shape, s", [((7,), 0.3), ((4, 5), 0.5), ((3, 2, 3, 3), 0.75), ((10,), 0)])
def test_magnitude_mask_matches_loop_twin_and_count(rng, shape, s):
    w = rng.normal(size=shape)
    m = magnitude_mask(w, s)
    np.testing.assert_array_equal(m, magnitude_mask_naive(w, s))
    assert np.count_nonzero(m == 0) == round(s * w.size)
    # every removed weight is no larger than every kept one
    if 0 < s:
        assert np.abs(w[m == 0]).max() <= np.abs(w[m == 1]).min()


def test_global_masks_rank_across_tensors():
    params = {"a": np.array([0.1, 0.2, 0.3]), "b": np.array([[1.0, 0.05], [2.0, 3.0]])}
    masks = global_magnitude_masks(params, 3 / 7)
    np.testing.assert_array_equal(masks["a"], [0, 0, 1])
    np.testing.assert_array_equal(masks["b"], [[1, 0], [1, 1]])


def test_mask_from_scores_keeps_highest_scores():
    np.testing.assert_array_equal(
        mask_from_scores(np.array([3.0, 1.0, 2.0, 0.5]), 0.5), [1, 0, 1, 0]
    )


def test_model_masks_layer_and_global_then_apply(rng):
    model = _tiny(rng)
    masks = model_masks(model, 0.5)
    assert sorted(masks) == ["0.weight", "3.weight", "5.weight"]
    apply_masks(model, masks)
    for w in prunable_weights(model).values():
        assert sparsity_of(w) == pytest.approx(round(0.5 * w.size) / w.size)
    g = model_masks(model, 0.8, scope="global")
    apply_masks(model, g)
    assert sparsity_of(prunable_weights(model)) == pytest.approx(0.8, abs=1e-2)
    per = model_masks(model, {"3.weight": 0.9})
    assert list(per) == ["3.weight"]


def test_sensitivity_scan_restores_weights_and_degrades(rng):
    model = _tiny(rng)
    X = rng.normal(size=(40, 1, 6, 6)).astype(np.float32)
    y = np.argmax(model.predict(X), 1)  # labels the model gets 100% right
    before = {k: v.copy() for k, v in model.params.items()}
    scan = sensitivity_scan(model, X, y, sparsities=(0.0, 0.9), keys=["3.weight"])
    assert scan["accuracy"]["3.weight"][0] == 1.0
    assert scan["accuracy"]["3.weight"][1] < 1.0
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_plot_sensitivity_writes_file(rng, tmp_path):
    from minidl.compression.plots import plot_sensitivity

    scan = {"sparsities": [0, 0.5], "accuracy": {"0.weight": [0.9, 0.8]}}
    plot_sensitivity(scan, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="scan"):
        plot_sensitivity({"x": 1})


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_sparsity_out_of_range(bad):
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_mask(np.ones(4), bad)


def test_sparsity_one_refused_and_wrong_types(rng):
    with pytest.raises(ValueError, match="sparsity=1"):
        magnitude_mask(np.ones(4), 1.0)
    assert check_sparsity(1.0, allow_one=True) == 1.0
    with pytest.raises(TypeError, match="sparsity"):
        magnitude_mask(np.ones(4), "half")
    with pytest.raises(ValueError, match="h"):
        threshold_prune(np.ones(3), -1)
    with pytest.raises(TypeError, match="w"):
        magnitude_mask(np.arange(4), 0.5)
    model = _tiny(rng)
    with pytest.raises(ValueError, match="scope"):
        model_masks(model, 0.5, scope="net")
    with pytest.raises(ValueError, match="not a parameter"):
        apply_masks(model, {"9.weight": np.ones(3)})
    with pytest.raises(ValueError, match="shape"):
        apply_masks(model, {"0.weight": np.ones(3)})
    with pytest.raises(ValueError, match="prunable"):
        model_masks(model, {"0.bias": 0.5})
    with pytest.raises(TypeError, match="params"):
        global_magnitude_masks({}, 0.5)
