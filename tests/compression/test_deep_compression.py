"""Deep Compression's table, small: LeNet-300-100 through the three stages on 1,500 images in
seconds, each stage a real file whose size is measured on disk; the paper's figures beside."""

import os

import numpy as np
import pytest

from minidl.compression.deep_compression import (
    PAPER_LAYERS,
    TABLE1_HEADER,
    format_table1,
    prune_retrain,
    run_stages,
)
from minidl.compression.deep_compression_plots import (
    pareto_front,
    plot_centroid_init,
    plot_code_lengths,
    plot_pareto,
    plot_weight_distribution,
)
from minidl.compression.pruning import n_to_prune
from minidl.compression.weight_sharing import share_weights
from minidl.datasets import load_mnist_t10k_split
from minidl.nn import zoo


@pytest.mark.slow
def test_small_table_lenet_300_100(tmp_path):
    (X, y), (Xt, yt) = load_mnist_t10k_split(8000, seed=0)
    data = (X[:1500], y[:1500]), (Xt[:500], yt[:500])
    rows = run_stages(zoo.lenet_300_100, data, tmp_path, epochs=2, prune_steps=1,
                      epochs_per_step=1, quant_epochs=1)  # fmt: skip
    assert [r["stage"] for r in rows] == ["Ref", "control (+2 epochs)", "P", "P+Q", "P+Q+H"]
    ref, _, pruned, pq, pqh = rows
    # sizes are the files on disk; the ratio is 4 bytes x 266,610 parameters over them
    for r, name in ((pruned, "P.npz"), (pq, "paper-P+Q.mdc"), (pqh, "paper-P+Q+H.mdc")):
        assert r["bytes"] == os.path.getsize(tmp_path / f"lenet_300_100-{name}")
        assert r["ratio"] == pytest.approx(4 * 266_610 / r["bytes"])
    assert ref["ratio"] == 1 and 1 < pruned["ratio"] < pq["ratio"] < pqh["ratio"]
    # the kept fraction is the paper's per-layer rates, rounded per layer as pruning rounds
    sizes = {"1.weight": 784 * 300, "3.weight": 300 * 100, "5.weight": 100 * 10}
    kept = sum(n - n_to_prune(n, 1 - PAPER_LAYERS["lenet_300_100"][k][0])
               for k, n in sizes.items())  # fmt: skip
    assert pruned["kept"] == kept / sum(sizes.values())
    # Huffman coding is lossless: P+Q and P+Q+H are the same model, read back from two files
    assert pqh["accuracy"] == pq["accuracy"]
    # measured: Ref 79.8%, P+Q+H 79.2% (500 test images: 1 image = 0.2 point)
    assert pqh["accuracy"] >= ref["accuracy"] - 2
    lines = TABLE1_HEADER + format_table1("lenet_300_100", rows)
    assert "| 1.58% | 27 KB | 40x |" in lines[-1] and "| 1.64% | 1070 KB | 1x |" in lines[2]


def test_pareto_front_by_hand():
    pts = [dict(ratio=1, accuracy=90), dict(ratio=2, accuracy=95), dict(ratio=3, accuracy=80),
           dict(ratio=3, accuracy=85), dict(ratio=2, accuracy=95)]  # fmt: skip
    # (1, 90) is beaten by (2, 95), (3, 80) by (3, 85); the two equal points both stay
    assert pareto_front(pts) == [1, 4, 3]


def test_plots_write_files(tmp_path, rng):
    w = rng.normal(0, 0.1, size=(30, 40)).astype(np.float32)
    w[np.abs(w) < 0.12] = 0
    s = share_weights(w, 3)
    plot_weight_distribution(rng.normal(size=1000), s.weight, s.codebook, tmp_path / "a.png")
    plot_centroid_init(w, 7, tmp_path / "b.png")
    plot_code_lengths(s.indices.ravel(), 8, tmp_path / "c.png")
    pts = [dict(label="x", group="g", ratio=2.0, accuracy=90.0)]
    plot_pareto(pts, tmp_path / "d.png")
    assert all((tmp_path / f"{c}.png").stat().st_size > 1000 for c in "abcd")
    with pytest.raises(ValueError, match="points"):
        plot_pareto([{"ratio": 1}])


def test_prune_retrain_bad_keep(rng):
    model = zoo.lenet_300_100(rng=rng)
    X, y = rng.random((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)
    with pytest.raises(ValueError, match="keep"):
        prune_retrain(model, X, y, {"1.weight": 1.5})
    with pytest.raises(ValueError, match="not prunable weights"):
        prune_retrain(model, X, y, {"7.weight": 0.5})


def test_run_stages_needs_one_set_of_kept_fractions(tmp_path, rng):
    X, y = rng.random((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)
    configs = {"a": {"1.weight": (0.1, 4, 5)}, "b": {"1.weight": (0.2, 4, 5)}}
    with pytest.raises(ValueError, match="kept fractions"):
        run_stages(zoo.lenet_300_100, ((X, y), (X, y)), tmp_path, epochs=1, configs=configs)
