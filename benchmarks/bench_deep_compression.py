"""Deep Compression (Han, Mao & Dally 2016) on LeNet-300-100 and LeNet-5, bundled MNIST split.

Run by hand: ``python benchmarks/bench_deep_compression.py`` (about 10 minutes on 2 shared
cores with one BLAS thread, the default here: with two, OpenBLAS's second thread spin-waits on
a busy machine and the same run took 10x longer; ``--quick`` for a smoke run).

For each network: train, prune with retraining, share weights with centroid fine-tuning,
Huffman-code, each stage saved as a real file, printed in the paper's Table 1 format beside
the paper's figures, with the paper's per-layer rates and bit widths ("paper") and with
minidl's tuned widths ("tuned"). Then every technique minidl has on LeNet-300-100, one point
each, on a ratio-vs-accuracy plot with the Pareto front (``--figures``, default
``benchmarks/figures``). Prints ``uptime``: the machine is shared.
"""

import argparse
import copy
import os
import subprocess
import tempfile
import time

from minidl.compression.deep_compression import (
    PAPER_LAYERS,
    TABLE1_HEADER,
    format_table1,
    prune_retrain,
    quantize_retrain,
    run_stages,
    top1,
)
from minidl.compression.deep_compression_format import load_deep_compressed, save_deep_compressed
from minidl.compression.deep_compression_plots import pareto_front, plot_pareto
from minidl.compression.lowrank import lowrank_model
from minidl.compression.pruning import apply_masks, model_masks
from minidl.compression.storage import load_compressed, save_compressed
from minidl.compression.structured import prune_units
from minidl.compression.weight_sharing import share_model_weights
from minidl.datasets import load_mnist_t10k_split
from minidl.nn import zoo
from minidl.nn.serialization import load_model

# minidl's tuned widths (the paper's pruning rates kept): on 8,000 training images 16 shared
# values per fully connected layer lose nothing (see the P+Q sweep), and once Huffman-coded the
# relative indices are best 8 bits wide: a wide gap then needs no filler entry (a filler costs
# a weight symbol and an index symbol), and Huffman makes the wider alphabet cheap. The
# fixed-width stage (P+Q) keeps the paper's 5-bit indices.
TUNED = {
    "lenet_300_100": {
        k: (keep, 4, 5, 8) for k, (keep, _, _) in PAPER_LAYERS["lenet_300_100"].items()
    },
    "lenet5_caffe": {
        "0.weight": (0.66, 4, 5, 8),
        "2.weight": (0.12, 5, 5, 8),
        "5.weight": (0.08, 4, 5, 8),
        "7.weight": (0.19, 4, 5, 8),
    },
}
EPOCHS = {"lenet_300_100": 10, "lenet5_caffe": 6}


START = time.perf_counter()


def log(msg):
    print(f"[{time.perf_counter() - START:7.0f} s] {msg}", flush=True)


def table(name, data, out, args):
    rows = run_stages(
        getattr(zoo, name), data, out, epochs=1 if args.quick else EPOCHS[name],
        prune_steps=1 if args.quick else 3, epochs_per_step=1 if args.quick else 2,
        quant_epochs=1 if args.quick else 2, weight_decay=5e-4,
        configs={"paper": PAPER_LAYERS[name], "tuned": TUNED[name]},
    )  # fmt: skip
    log(f"{name} done")
    return rows


def file_point(points, label, group, model, data, base_bytes, writer):
    """Save ``model`` with ``writer(model, path) -> (size, loaded model)``; add the point."""
    (_, _), (Xt, yt) = data
    with tempfile.TemporaryDirectory() as d:
        size, loaded = writer(model, os.path.join(d, "m"))
    points.append({"label": label, "group": group, "ratio": base_bytes / size,
                   "accuracy": top1(loaded, Xt, yt), "bytes": size})  # fmt: skip


def npz(sparse, int8):
    def write(model, path):
        size = save_compressed(model, path, sparse=sparse, int8=int8)
        return size, load_compressed(path)

    return write


def mdc(coding, index_bits=5):
    def write(model, path):
        size = save_deep_compressed(model, path, index_bits=index_bits, coding=coding)["total"]
        return size, load_deep_compressed(path)

    return write


def sweep(base, pruned, data, args):
    """Every technique on LeNet-300-100, one point each (files written and read back)."""
    (X, y), _ = data
    n = sum(p.size for p in base.params.values())
    full, pts = 4 * n, []

    def fp(label, group, model, writer):
        file_point(pts, label, group, model, data, full, writer)

    fp("float32", "reference", base, npz(None, False))
    fp("int8", "quantization", base, npz(None, True))
    one_shot = copy.deepcopy(base)
    apply_masks(one_shot, model_masks(one_shot, 0.92, scope="global"))
    fp("magnitude 92% one shot", "pruning", one_shot, npz("auto", False))
    fp("gradual (paper rates)", "pruning", pruned, npz("auto", False))
    fp("gradual + int8", "pruning + int8", pruned, npz("auto", True))
    for b in range(2, 9):
        q = copy.deepcopy(base)
        share_model_weights(q, b)
        fp(f"k-means {b}b", "k-means", q, mdc("fixed"))
        fp(f"k-means {b}b + H", "k-means + Huffman", q, mdc("huffman"))
    fine = 0 if args.quick else 1
    for b in range(2, 9):
        q = copy.deepcopy(pruned)
        quantize_retrain(q, X, y, b, fine, 1e-4)
        fp(f"P+Q {b}b", "pruning + k-means", q, mdc("fixed"))
        fp(f"P+Q+H {b}b", "pruning + k-means + Huffman", q, mdc("huffman"))
        if b == 4:  # the tuned configuration of the table: 8-bit relative indices
            fp("P+Q+H 4b, 8-bit indices", "pruning + k-means + Huffman", q, mdc("huffman", 8))
    log("sweep: k-means and P+Q points done")
    small, _ = prune_units(base, 0.5, (1, 1, 28, 28))
    small.fit(X, y, 1, 64, _adam(), _ce(), rng=5, verbose=False)
    fp("structured 50% + 1 ep", "structured", small, npz(None, False))
    share_model_weights(small, 4)
    fp("structured + k-means 4b + H", "combinations", small, mdc("huffman"))
    low = lowrank_model(base, {1: 32})
    low.fit(X, y, 1, 64, _adam(), _ce(), rng=6, verbose=False)
    fp("low rank 32 + 1 ep", "low rank", low, npz(None, False))
    share_model_weights(low, 4)
    fp("low rank + k-means 4b + H", "combinations", low, mdc("huffman"))
    for factor in (0.5, 0.25):
        harder = copy.deepcopy(base)
        keep = {k: v[0] * factor for k, v in PAPER_LAYERS["lenet_300_100"].items()}
        prune_retrain(harder, X, y, keep, 1 if args.quick else 3, 1 if args.quick else 2,
                      rng=7, weight_decay=5e-4)  # fmt: skip
        for b in (4, 3, 2):
            q = copy.deepcopy(harder)
            quantize_retrain(q, X, y, b, fine, 1e-4)
            fp(f"P x{factor:g} + Q {b}b + H", "past the paper", q, mdc("huffman"))
    log("sweep done")
    return pts


def _adam():
    from minidl.optim import Adam

    return Adam(5e-4)


def _ce():
    from minidl.nn.losses import CrossEntropyLoss

    return CrossEntropyLoss()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch per stage (smoke run)")
    parser.add_argument("--out", default=None, help="directory for the saved stage files")
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "figures"))
    parser.add_argument("--nets", default="lenet_300_100,lenet5_caffe")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        print("threadpoolctl not installed: BLAS threads left as they are")
    out = args.out or tempfile.mkdtemp(prefix="minidl_deep_compression_")
    os.makedirs(out, exist_ok=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    data = load_mnist_t10k_split()
    lines = list(TABLE1_HEADER)
    nets = args.nets.split(",")
    for name in nets:
        rows = table(name, data, out, args)
        lines += format_table1(name, rows)
        for r in rows:
            if r["report"]:
                print(name, r["config"], r["stage"], r["report"])
    print("\n## Table 1 (KB = 1,000 bytes; size = the saved file; ratio = 4 x params / size)\n")
    print("\n".join(lines), flush=True)
    if "lenet_300_100" in nets:
        base = load_model(os.path.join(out, "lenet_300_100-ref.npz"))
        pruned = load_compressed(os.path.join(out, "lenet_300_100-P.npz"))
        pts = sweep(base, pruned, data, args)
        front = set(pareto_front(pts))
        print("\n## Every technique on LeNet-300-100 (* = on the Pareto front; Huffman files "
              "with 5-bit relative indices unless said)\n")  # fmt: skip
        print("| technique | accuracy | bytes | ratio |\n|---|---:|---:|---:|")
        for i in sorted(range(len(pts)), key=lambda i: pts[i]["ratio"]):
            p, star = pts[i], "*" if i in front else ""
            print(f"| {p['label']}{star} | {p['accuracy']:.2f}% | {p['bytes']:,} "
                  f"| {p['ratio']:.1f}x |")  # fmt: skip
        path = os.path.join(args.figures, "deep_compression_pareto.png")
        plot_pareto(pts, path, "LeNet-300-100 on the MNIST split: every technique, one point each")
        print(f"\nplot: {path}")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    log(f"files in {out}")


if __name__ == "__main__":
    main()
