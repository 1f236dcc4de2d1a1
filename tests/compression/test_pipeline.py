"""Article 004's quantize -> clip -> prune -> validate pipeline as one call with a table."""

import numpy as np
import pytest

from minidl.compression.pipeline import (
    article004_pipeline,
    compression_pipeline,
    format_table,
    on_int8_grid,
)
from minidl.compression.plots import plot_pipeline
from minidl.compression.quantization import quantize_fixed_point
from minidl.layers.activations import ReLU
from minidl.layers.dense import Dense
from minidl.nn.model import Sequential


def _setup(rng):
    model = Sequential([Dense(10, 40, rng=rng), ReLU(), Dense(40, 4, rng=rng)])
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = np.argmax(model.predict(X), 1)  # the float model is 100% right by construction
    return model, X, y


def test_on_int8_grid():
    w = np.array([[127.0, -3.0, 0.0], [2.0, 1.0, -2.0]]) / 256  # one power-of-two step
    assert on_int8_grid(w)
    assert on_int8_grid(quantize_fixed_point(np.array([[0.3, -0.1], [0.01, 0.2]]), 8, bits=8))
    assert not on_int8_grid(np.array([[0.3, 0.1234567]]))


def test_article004_pipeline_rows_and_what_they_show(rng):
    model, X, y = _setup(rng)
    before = {k: v.copy() for k, v in model.params.items()}
    rows, compressed = article004_pipeline(model, X, y)
    assert [r["step"] for r in rows][0] == "original" and len(rows) == 4
    assert set(rows[0]) == {"step", "accuracy", "bytes", "int8", "sparsity"}
    n = 10 * 40 + 40 * 4
    assert rows[0]["bytes"] == 4 * (n + 44) and rows[0]["accuracy"] == 1.0
    q, clip, prune = rows[1:]
    assert q["int8"] and q["bytes"] == n + 4 * 44 + 4 * 44  # codes, scales per unit, biases
    assert q["accuracy"] > 0.95
    assert not clip["int8"]  # the 'clip' moves every weight off the grid: float again
    assert clip["bytes"] == rows[0]["bytes"]
    assert prune["sparsity"] == clip["sparsity"]  # threshold 0.001 < half a step: nothing new
    for k, v in model.params.items():  # the original is untouched
        np.testing.assert_array_equal(v, before[k])
    assert compressed is not model


def test_prune_then_quantize_keeps_both_savings(rng, tmp_path):
    from minidl.compression.pipeline import prune_then_quantize_steps

    model, X, y = _setup(rng)
    rows, m = compression_pipeline(model, X, y, prune_then_quantize_steps(0.8))
    pruned, quantized = rows[1:]
    assert pruned["sparsity"] == pytest.approx(0.8, abs=1e-3) and not pruned["int8"]
    assert quantized["int8"] and quantized["sparsity"] >= pruned["sparsity"]
    nz = 560 - round(0.8 * 560)
    # bitmask + int8 values + scales + float32 biases, against 4 * (560 + 44) dense
    assert quantized["bytes"] <= 70 + nz + 4 * 44 + 4 * 44
    assert rows[0]["bytes"] / quantized["bytes"] > 4
    article004_pipeline(model, X, y, plot_path=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_literal_pipeline_scales_weights_by_256(rng):
    model, X, y = _setup(rng)
    _, literal = article004_pipeline(model, X, y, literal=True, alpha=0.0, threshold=0.0)
    w, w_lit = model.params["0.weight"], literal.params["0.weight"]
    np.testing.assert_array_equal(w_lit, np.round(w * 256))
    assert np.abs(w_lit).max() > 100 * np.abs(w).max()


def test_generic_pipeline_table_and_plot(rng, tmp_path):
    model, X, y = _setup(rng)

    def zero_first(m):
        m.params["0.weight"][...] = 0

    rows, _ = compression_pipeline(model, X, y, [("zero first layer", zero_first)])
    assert rows[1]["sparsity"] == pytest.approx(400 / 560)
    table = format_table(rows)
    assert table.count("\n") == 3 and "zero first layer" in table
    plot_pipeline(rows, path=tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    with pytest.raises(TypeError, match="steps"):
        compression_pipeline(model, X, y, [zero_first])
    with pytest.raises(ValueError, match="rows"):
        plot_pipeline([])


def test_article004_prune_is_strict_at_the_threshold():
    from minidl.compression.pipeline import prune_article004
    from minidl.compression.pruning import threshold_prune

    # the article's np.where(np.abs(x) < eps, 0, x): |x| = eps is kept; (4.9) removes it
    x = np.array([-0.002, -0.001, 0.0005, 0.001, 0.003])
    np.testing.assert_array_equal(prune_article004(x, 0.001), [-0.002, -0.001, 0.0, 0.001, 0.003])
    np.testing.assert_array_equal(threshold_prune(x, 0.001), [-0.002, 0.0, 0.0, 0.0, 0.003])
    with pytest.raises(ValueError, match="eps"):
        prune_article004(x, -1.0)


def test_pipeline_step_labels_name_the_rule_they_run(rng):
    model, X, y = _setup(rng)
    for literal in (False, True):
        rows, _ = article004_pipeline(model, X, y, literal=literal)
        assert rows[-1]["step"] == "prune (abs(x) < threshold)"


def test_format_table_escapes_a_pipe_in_a_step_name(rng):
    model, X, y = _setup(rng)
    rows, _ = compression_pipeline(model, X, y, [("prune (|x| < eps)", lambda m: None)])
    row = format_table(rows).splitlines()[-1]
    assert row.startswith("| prune (\\|x\\| < eps) |") and row.count(" | ") == 4
