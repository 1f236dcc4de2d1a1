r"""Deep Compression's three stages on a minidl model (Han, Mao & Dally, ICLR 2016).

1. **Pruning with retraining** (their §2, from Han et al. 2015): per layer, the smallest
   weights are removed, rising to the final rate over a few steps of Zhu & Gupta's schedule
   (:func:`~minidl.compression.schedule.gradual_sparsity`), with retraining through a
   :class:`~minidl.compression.schedule.MaskedOptimizer` after each step.
2. **Trained quantization** (§3): per layer k-means weight sharing
   (:mod:`minidl.compression.weight_sharing`), then fine-tuning of the centroids only (eq. 3).
3. **Huffman coding** (§4) of the weight indices and the relative sparse indices, in a file
   (:mod:`minidl.compression.deep_compression_format`).

``PAPER_LAYERS`` holds the paper's per-layer figures for the two MNIST networks (Tables 2 and
3: the fraction of weights kept after pruning, the weight bits and the index bits) keyed by the
``state_dict`` names of :func:`minidl.nn.zoo.lenet_300_100` and :func:`minidl.nn.zoo.lenet5_caffe`;
``PAPER_TABLE1`` the rows of Table 1 (top-1 error %, size in KB, ratio).
"""

import numpy as np

from minidl._validation import check_positive_int
from minidl.compression.pruning import accuracy, apply_masks, check_sparsity, model_masks
from minidl.compression.schedule import MaskedOptimizer, gradual_sparsity
from minidl.compression.weight_sharing import CentroidOptimizer, share_model_weights
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam, CosineAnnealingLR

# key -> (fraction of weights kept, weight bits, index bits), Tables 2 and 3
PAPER_LAYERS = {
    "lenet_300_100": {"1.weight": (0.08, 6, 5), "3.weight": (0.09, 6, 5), "5.weight": (0.26, 6, 5)},
    "lenet5_caffe": {
        "0.weight": (0.66, 8, 5),
        "2.weight": (0.12, 8, 5),
        "5.weight": (0.08, 5, 5),
        "7.weight": (0.19, 5, 5),
    },
}
# Table 1: top-1 error (%) of the reference and the compressed net, size (KB), ratio
PAPER_TABLE1 = {
    "lenet_300_100": {"ref_error": 1.64, "error": 1.58, "ref_kb": 1070, "kb": 27, "ratio": 40},
    "lenet5_caffe": {"ref_error": 0.80, "error": 0.74, "ref_kb": 1720, "kb": 44, "ratio": 39},
}
# Tables 2-3, "Total" row: kept weights after pruning and the compression rate of each stage
PAPER_STAGES = {
    "lenet_300_100": {"P": (0.08, 12), "P+Q": (0.031, 32), "P+Q+H": (0.0249, 40)},
    "lenet5_caffe": {"P": (0.08, 12), "P+Q": (0.0305, 33), "P+Q+H": (0.0255, 39)},
}


def train(model, X, y, epochs, lr, batch_size=64, optimizer=None, rng=None, weight_decay=0.0):
    """``model.fit`` with Adam (L2 ``weight_decay``; ``optimizer`` wraps it) and a cosine decay."""
    base = Adam(lr, weight_decay=weight_decay)
    opt = base if optimizer is None else optimizer(base)
    model.fit(
        X, y, epochs, batch_size, opt, CrossEntropyLoss(),
        scheduler=CosineAnnealingLR(base, epochs), rng=rng, verbose=False,
    )  # fmt: skip
    return model


def prune_retrain(
    model, X, y, keep, n_steps=3, epochs_per_step=1, lr=1e-3, batch_size=64, rng=None,
    weight_decay=0.0,
):  # fmt: skip
    """Stage 1, in place: per-layer magnitude pruning to ``1 - keep[key]`` in ``n_steps`` steps
    (cubic schedule), each followed by ``epochs_per_step`` epochs of masked retraining.

    ``keep``: dict key -> fraction of the weights kept (the paper's "Weights%"). Returns masks.
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    final = {k: check_sparsity(1 - v, f"1 - keep[{k!r}]") for k, v in keep.items()}
    masks = {}
    for t in range(1, n_steps + 1):
        target = {k: gradual_sparsity(t, s, n=n_steps) for k, s in final.items()}
        masks = model_masks(model, target, scope="layer")
        apply_masks(model, masks)
        wrap = lambda o, m=masks: MaskedOptimizer(o, m)
        train(model, X, y, epochs_per_step, lr, batch_size, wrap, rng, weight_decay)
    return masks


def quantize_retrain(model, X, y, bits, epochs=1, lr=1e-4, init="linear", batch_size=64, rng=None):
    """Stage 2, in place: weight sharing at ``bits`` (int or dict key -> int), then ``epochs``
    of centroid fine-tuning (eq. 3; biases train as usual). Returns the shared weights."""
    shared = share_model_weights(model, bits, init=init, rng=rng)
    if epochs:
        train(model, X, y, epochs, lr, batch_size, lambda o: CentroidOptimizer(o, shared), rng)
    return shared


def top1(model, X, y):
    """Accuracy in percent."""
    return 100.0 * accuracy(model, X, y)


def kept_fraction(model, keys):
    """Fraction of nonzero weights over the weights ``keys`` (the paper's "Weights%")."""
    params = model.params
    return sum(np.count_nonzero(params[k]) for k in keys) / sum(params[k].size for k in keys)


def run_stages(
    build, data, out_dir, epochs=10, prune_steps=3, epochs_per_step=2, quant_epochs=2,
    lr=1e-3, weight_decay=1e-4, configs=None, init="linear", seed=0,
):  # fmt: skip
    """Train ``build()`` and put it through the three stages; one row per stage, with files.

    ``data``: ``((X, y), (X_test, y_test))``. ``configs``: label -> {key: (kept fraction,
    weight bits, index bits[, index bits when Huffman-coded])}, all with the same kept
    fractions (default: the paper's ``PAPER_LAYERS[build.__name__]``, labelled "paper").

    Each stage is saved in ``out_dir`` and its size is the file's: the reference as
    :meth:`Sequential.save`, pruning as :func:`~minidl.compression.storage.save_compressed`
    (float32, sparse 'auto'), and per config P+Q and P+Q+H by
    :func:`~minidl.compression.deep_compression_format.save_deep_compressed` with fixed-width
    and Huffman streams, the accuracy measured on the model loaded back from the file. A
    *control* row is the reference trained for as many more epochs as the compressed model got
    (at half the rate), to tell retraining from compression. Returns the rows.
    """
    import copy
    import os

    from minidl.compression.storage import save_compressed

    (X, y), (Xt, yt) = data
    name = build.__name__
    configs = {"paper": PAPER_LAYERS[name]} if configs is None else configs
    keeps = [{k: v[0] for k, v in c.items()} for c in configs.values()]
    if any(k != keeps[0] for k in keeps):
        raise ValueError("configs must share their kept fractions (one pruned model serves all)")
    model = train(build(rng=seed), X, y, epochs, lr, rng=seed + 1, weight_decay=weight_decay)
    n_params = sum(p.size for p in model.params.values())
    path = os.path.join(out_dir, name)
    model.save(path + "-ref.npz")
    rows = [_row("Ref", model, Xt, yt, 4 * n_params, os.path.getsize(path + "-ref.npz"))]
    extra = prune_steps * epochs_per_step + quant_epochs
    control = train(copy.deepcopy(model), X, y, extra, lr / 2, rng=seed + 2,
                    weight_decay=weight_decay)  # fmt: skip
    rows.append(_row(f"control (+{extra} epochs)", control, Xt, yt, 4 * n_params, None))
    prune_retrain(model, X, y, keeps[0], prune_steps, epochs_per_step, lr, rng=seed + 3,
                  weight_decay=weight_decay)  # fmt: skip
    size = save_compressed(model, path + "-P.npz", sparse="auto", int8=False)
    kept = kept_fraction(model, list(keeps[0]))
    rows.append(_row("P", model, Xt, yt, size, size, kept))
    for label, config in configs.items():
        q = copy.deepcopy(model)
        bits = {k: v[1] for k, v in config.items()}
        quantize_retrain(q, X, y, bits, quant_epochs, lr / 10, init, rng=seed + 4)
        rows += _quantized_rows(q, f"{path}-{label}", config, (Xt, yt), kept, label)
    for r in rows:
        r["ratio"] = 4 * n_params / r["bytes"]
    return rows


def _quantized_rows(model, path, config, test, kept, label):
    from minidl.compression.deep_compression_format import (
        load_deep_compressed,
        save_deep_compressed,
    )

    bits = {k: v[1] for k, v in config.items()}
    rows = []
    for stage, coding in (("P+Q", "fixed"), ("P+Q+H", "huffman")):
        # an optional 4th entry: the index width when Huffman-coded (wider: fewer fillers)
        index_bits = {k: v[3] if coding == "huffman" and len(v) > 3 else v[2]
                      for k, v in config.items()}  # fmt: skip
        report = save_deep_compressed(model, f"{path}-{stage}.mdc", bits, index_bits, coding)
        loaded = load_deep_compressed(f"{path}-{stage}.mdc")  # the file, not the model in memory
        rows.append(_row(stage, loaded, *test, report["total"], report["total"], kept, report))
        rows[-1]["config"] = label
    return rows


def _row(stage, model, X, y, nbytes, file_bytes, kept=1.0, report=None):
    return {"stage": stage, "accuracy": top1(model, X, y), "bytes": nbytes,
            "file_bytes": file_bytes, "kept": kept, "report": report}  # fmt: skip


def format_table1(name, rows):
    """Markdown rows in the paper's Table 1 format (top-1 error, size, ratio), with the paper's
    figures beside ours (KB = 1,000 bytes, as the paper's 1070 KB = 266,610 x 4 bytes)."""
    paper, stages = PAPER_TABLE1.get(name, {}), PAPER_STAGES.get(name, {})
    out = []
    for r in rows:
        stage = r["stage"] + (f" ({r['config']})" if r.get("config") else "")
        if r["stage"] == "P":
            stage += f", {100 * r['kept']:.1f}% of weights kept"
        ours = (f"| {name} {stage} | {100 - r['accuracy']:.2f}% | {r['bytes'] / 1000:.1f} KB"
                f" | {r['ratio']:.1f}x |")  # fmt: skip
        if r["stage"] == "Ref" and paper:
            ours += f" {paper['ref_error']:.2f}% | {paper['ref_kb']} KB | 1x |"
        elif r["stage"] == "P+Q+H" and paper:
            ours += f" {paper['error']:.2f}% | {paper['kb']} KB | {paper['ratio']}x |"
        elif r["stage"] in stages:  # the paper gives no error and only a fraction here
            kept, ratio = stages[r["stage"]]
            ours += f" — | {100 * kept:.2g}% of {paper.get('ref_kb', 0)} KB | {ratio}x |"
        else:
            ours += " | | |"
        out.append(ours)
    return out


TABLE1_HEADER = [
    "| network, stage | top-1 error | size | ratio | paper: top-1 error | paper: size "
    "| paper: ratio |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
