"""Compression of article 003's CNN on the MNIST t10k split: accuracy and real size per technique.

Run by hand (``python benchmarks/bench_compression.py``; about 5-10 minutes on 2 shared cores).
Trains ``minidl.nn.zoo.article003_cnn`` (225,034 parameters) on 8,000 of the bundled MNIST test
images, evaluates on the other 2,000 (one accuracy point = 20 images), then applies each
technique to a copy and prints a Markdown table of accuracy, bytes and ratio (the README table),
the article-004 pipeline tables (corrected and literal) and a timing of the mask computation
against ``torch.nn.utils.prune`` (when torch is installed). Plots go to ``--out`` (default a
temporary directory); nothing is cached in the repository. Timings are noisy: the machine is
shared.
"""

import argparse
import copy
import os
import tempfile
import time

import numpy as np

from minidl.compression.clipping import apply_to_weights, clip_article003_code, clip_article003_text
from minidl.compression.int_model import quantize_model
from minidl.compression.lowrank import lowrank_model
from minidl.compression.pipeline import article004_pipeline, format_table
from minidl.compression.plots import plot_sensitivity
from minidl.compression.pruning import (
    accuracy,
    apply_masks,
    magnitude_mask,
    model_masks,
    prunable_weights,
    sensitivity_scan,
    sparsity_of,
)
from minidl.compression.schedule import prune_and_finetune
from minidl.compression.storage import model_bytes, save_compressed
from minidl.compression.structured import prune_units
from minidl.datasets import load_mnist_t10k_split
from minidl.nn.complexity import summary
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.zoo import article003_cnn
from minidl.optim import Adam

SHAPE = (1, 1, 28, 28)


def row(name, model, X, y, nbytes, note=""):
    s = summary(model, SHAPE)
    return {
        "technique": name,
        "accuracy": accuracy(model, X, y),
        "bytes": nbytes,
        "params": s.total_params,
        "macs": s.total_macs,
        "note": note,
    }


def table(rows, base_bytes, base_acc):
    out = [
        "| technique | accuracy | change | size | ratio | params | MACs | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['technique']} | {100 * r['accuracy']:.2f}% | "
            f"{100 * (r['accuracy'] - base_acc):+.2f} | {r['bytes'] / 1024:.1f} KB | "
            f"{base_bytes / r['bytes']:.1f}x | {r['params']:,} | {r['macs']:,} | {r['note']} |"
        )
    return "\n".join(out)


def fit(model, X, y, epochs, lr, seed):
    model.fit(X, y, epochs, 64, Adam(lr), CrossEntropyLoss(), rng=seed, verbose=False)
    return model


def bench_masks_vs_torch(w, repeats=5):
    try:
        import torch
        from torch.nn.utils import prune
    except ImportError:
        return "torch not installed: mask timing skipped"
    best_m = min(_time(lambda: magnitude_mask(w, 0.9)) for _ in range(repeats))

    def torch_mask():
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
        prune.l1_unstructured(lin, "weight", 0.9)

    best_t = min(_time(torch_mask) for _ in range(repeats))
    return (
        f"magnitude mask of a {w.shape} weight at 90%: minidl {best_m * 1e3:.2f} ms, "
        f"torch l1_unstructured {best_t * 1e3:.2f} ms, ratio {best_m / best_t:.2f}"
    )


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--out", default=None, help="directory for plots and saved files")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="minidl_bench_compression_")
    os.makedirs(out, exist_ok=True)

    (Xtr, ytr), (Xte, yte) = load_mnist_t10k_split()
    t0 = time.perf_counter()
    base = fit(article003_cnn(rng=0), Xtr, ytr, args.epochs, 1e-3, 1)
    print(f"trained article003_cnn for {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
    base_bytes = model_bytes(base)
    base_acc = accuracy(base, Xte, yte)
    base.save(os.path.join(out, "float32.npz"))
    float_file = os.path.getsize(os.path.join(out, "float32.npz"))
    rows = [row("float32 (baseline)", base, Xte, yte, base_bytes, f"file {float_file:,} B")]

    m = copy.deepcopy(base)
    apply_to_weights(m, _int8_roundtrip)
    rows.append(
        row("int8 weights, per-channel (dequantized)", m, Xte, yte, model_bytes(base, int8=True))
    )
    qm = quantize_model(base, Xtr[:1000])
    acc_int = float(np.mean(np.argmax(qm.predict(Xte), 1) == yte))
    rows.append(
        dict(
            rows[-1],
            technique="int8 integer-only inference (quantize_model)",
            accuracy=acc_int,
            note="int8 activations too",
        )
    )

    m = copy.deepcopy(base)
    apply_masks(m, model_masks(m, args.sparsity, scope="global"))
    rows.append(
        row(
            f"magnitude prune {args.sparsity:.0%} global, one shot",
            m,
            Xte,
            yte,
            model_bytes(m, "auto"),
            "no fine-tuning",
        )
    )

    t0 = time.perf_counter()
    pruned = copy.deepcopy(base)
    _, hist = prune_and_finetune(
        pruned,
        Xtr,
        ytr,
        Adam(5e-4),
        CrossEntropyLoss(),
        args.sparsity,
        n_steps=3,
        epochs_per_step=1,
        batch_size=64,
        scope="global",
        rng=2,
    )
    per_layer = ", ".join(f"{k} {sparsity_of(w):.0%}" for k, w in prunable_weights(pruned).items())
    rows.append(
        row(
            f"gradual prune {args.sparsity:.0%} + fine-tune (3 epochs)",
            pruned,
            Xte,
            yte,
            model_bytes(pruned, "auto"),
            per_layer,
        )
    )
    print(f"prune and fine-tune: {time.perf_counter() - t0:.0f} s, steps {hist}")

    han = copy.deepcopy(pruned)
    size = save_compressed(han, os.path.join(out, "han.npz"))
    apply_to_weights(han, _int8_roundtrip)
    rows.append(
        row(
            "prune + int8 (Han et al. 2016)",
            han,
            Xte,
            yte,
            model_bytes(pruned, "auto", int8=True),
            f"save_compressed file {size:,} B = {float_file / size:.1f}x smaller",
        )
    )

    small, _ = prune_units(base, 0.5, SHAPE)
    acc_before_ft = accuracy(small, Xte, yte)
    fit(small, Xtr, ytr, 1, 5e-4, 3)
    rows.append(
        row(
            "structured: 50% of filters/neurons (L1) + 1 epoch",
            small,
            Xte,
            yte,
            model_bytes(small),
            f"{100 * acc_before_ft:.2f}% before fine-tuning",
        )
    )

    lr_model = lowrank_model(base, {7: 16})
    acc_before_ft = accuracy(lr_model, Xte, yte)
    fit(lr_model, Xtr, ytr, 1, 5e-4, 4)
    rows.append(
        row(
            "low rank: Dense 1600x128 at rank 16 + 1 epoch",
            lr_model,
            Xte,
            yte,
            model_bytes(lr_model),
            f"{100 * acc_before_ft:.2f}% before fine-tuning",
        )
    )

    control = fit(copy.deepcopy(base), Xtr, ytr, 3, 5e-4, 2)
    rows.append(
        row(
            "control: float32 + the same 3 epochs, no pruning",
            control,
            Xte,
            yte,
            base_bytes,
            "fine-tuning budget of the pruned rows",
        )
    )

    clippings = (
        ("article 003 clipping, text (h=0.01)", clip_article003_text, {}),
        ("article 003 clipping, code (h=0.01)", clip_article003_code, {}),
        ("article 003 clipping, text (h=0.1)", clip_article003_text, {}),
        (
            "article 003 code, value clip only (h=0.1)",
            clip_article003_code,
            {"apply_max_norm": False},
        ),
        ("article 003 code, value clip + MaxNorm (h=0.1)", clip_article003_code, {}),
    )
    for name, fn, kwargs in clippings:
        m = copy.deepcopy(base)
        apply_to_weights(m, fn, 0.01 if "0.01" in name else 0.1, **kwargs)
        rows.append(row(name, m, Xte, yte, model_bytes(m), "no size change"))

    print("\n## Article 003's CNN, MNIST t10k split (8,000 train / 2,000 test)\n")
    print(table(rows, base_bytes, base_acc))
    for literal in (False, True):
        name = "literal" if literal else "corrected"
        prow, _ = article004_pipeline(
            base, Xte, yte, literal=literal, plot_path=os.path.join(out, f"pipeline_{name}.png")
        )
        print(f"\n## Article 004 pipeline, {name}\n")
        print(format_table(prow))

    scan = sensitivity_scan(base, Xte[:500], yte[:500], (0.0, 0.5, 0.8, 0.9, 0.95, 0.99))
    plot_sensitivity(scan, os.path.join(out, "sensitivity.png"))
    print("\n## Sensitivity (500 test images)\n")
    for k, accs in scan["accuracy"].items():
        print(
            k,
            " ".join(
                f"{s:.2f}:{100 * a:.1f}" for s, a in zip(scan["sparsities"], accs, strict=True)
            ),
        )
    print("\n" + bench_masks_vs_torch(base.params["7.weight"].copy()))
    print(f"\nplots and files in {out}")


def _int8_roundtrip(w):
    from minidl.compression.quantization import dequantize
    from minidl.compression.storage import quantize_weight_int8

    codes, scale = quantize_weight_int8(w)
    return dequantize(codes, scale, np.zeros(len(scale), np.int64), axis=0)


if __name__ == "__main__":
    main()
