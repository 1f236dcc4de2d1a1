"""A sweep of conv / pool / norm shapes against PyTorch 2.13 CPU, at one thread and at two.

    python benchmarks/bench_sweep.py                     # every case, both thread settings
    python benchmarks/bench_sweep.py --quick             # 3 repeats instead of 7
    python benchmarks/bench_sweep.py --only conv2d       # cases whose name contains a string
    python benchmarks/bench_sweep.py --json sweep.json --plot sweep.png --markdown sweep.md
    python benchmarks/bench_sweep.py --merge run1.json run2.json   # ranges over saved runs
    python benchmarks/bench_sweep.py --merge run*.json --plot all.png  # and all their points

Every case is one layer's forward + backward in float32, with the input gradient (as in the
middle of a network) unless its name says ``no-dx`` (a first layer: PyTorch's input does not
require grad, minidl's layer runs ``backward_params``). Each framework runs in its own fresh
process per thread setting (``OPENBLAS_NUM_THREADS`` set before NumPy loads,
``torch.set_num_threads``), best of ``--repeats`` per case, and the two processes alternate
``--rounds`` times, the best of all kept, so that both see the same load. Separate processes,
because in one process each framework's speed depends on the other's allocations: glibc maps
large arrays afresh (a page fault per 4 KiB) or reuses freed ones depending on what was freed
before, and PyTorch's forward of 8 x 16 x 28 x 28 -> 32 took 0.58 ms next to a minidl that
freed large temporaries, 1.6 ms alone. The float32 GEMM peak is measured in minidl's process
(a 2048^3 NumPy matmul), and each conv's throughput is given as a fraction of it: forward +
backward of a conv is 3 GEMM-sized products (y, dW, dX; 2 without dX), 2 FLOPs per
multiply-accumulate.

For each GEMM-based conv, minidl's process also times a NumPy floor: the products an im2col
conv of that shape must run (y = W col, dW = dy col^T, dcol = W^T dy) alone on ready operands,
plus one plain copy of the im2col matrix per pass that must write or read all of it (the two
gathers and col2im). A row whose floor is already above PyTorch's time cannot reach it by
im2col in NumPy, whatever the code around the GEMMs does; the gap between minidl and its floor
is what that code costs.

Prints the ratio table (minidl time / PyTorch time, below 1 is faster), the floor's ratio, the
median and worst ratio per thread setting, and writes a plot of ratio against MACs (one point
per case and thread setting) so the cost's growth with the work is visible.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field

REPEATS = 7


@dataclass(frozen=True)
class Case:
    """One benchmark: a layer kind, its constructor arguments and the input shape."""

    name: str
    kind: str  # conv1d/conv2d/conv3d, maxpool2d/3d, avgpool2d, batchnorm2d, relu
    shape: tuple  # input (N, C, *spatial)
    args: dict = field(default_factory=dict)  # layer arguments beyond the channels
    out_channels: int = 0
    need_dx: bool = True


def conv(name, n, cin, cout, hw, k=3, ndim=2, **args):
    spatial = hw if isinstance(hw, tuple) else (hw,) * ndim
    args.setdefault("padding", k // 2)
    need_dx = not name.endswith("no-dx")
    return Case(name, f"conv{ndim}d", (n, cin) + spatial, dict(kernel_size=k, **args), cout,
                need_dx)  # fmt: skip


CASES = [
    # 2-D convolutions, 3x3 padding 1 unless said: the middle-of-the-network rows first
    conv("conv2d N8 16->32 28", 8, 16, 32, 28),
    conv("conv2d N32 16->32 28", 32, 16, 32, 28),
    conv("conv2d N128 16->32 28", 128, 16, 32, 28),
    conv("conv2d N32 16->32 14", 32, 16, 32, 14),
    conv("conv2d N32 16->32 56", 32, 16, 32, 56),
    conv("conv2d N32 16->32 112", 32, 16, 32, 112),
    conv("conv2d N32 64->64 28", 32, 64, 64, 28),
    conv("conv2d N32 128->128 28", 32, 128, 128, 28),
    conv("conv2d N1 3->16 32", 1, 3, 16, 32),
    conv("conv2d N1 64->64 56", 1, 64, 64, 56),
    conv("conv2d N8 256->256 14", 8, 256, 256, 14),
    conv("conv2d N32 256->256 7", 32, 256, 256, 7),
    conv("conv2d N32 64->128 28 s2", 32, 64, 128, 28, stride=2),
    conv("conv2d N8 3->64 112 7x7 s2", 8, 3, 64, 112, k=7, stride=2),
    conv("conv2d N32 32->64 28 5x5", 32, 32, 64, 28, k=5),
    conv("conv2d N32 64->128 28 1x1", 32, 64, 128, 28, k=1),
    conv("conv2d N32 64->128 56 1x1 s2", 32, 64, 128, 56, k=1, stride=2),
    conv("conv2d N32 64 dw 28", 32, 64, 64, 28, groups=64),
    conv("conv2d N8 128 dw 56", 8, 128, 128, 56, groups=128),
    conv("conv2d N32 64->64 g4 28", 32, 64, 64, 28, groups=4),
    conv("conv2d N32 1->32 28 no-dx", 32, 1, 32, 28),
    conv("conv2d N64 3->32 32 no-dx", 64, 3, 32, 32),
    conv("conv2d N128 1->6 28 5x5 no-dx", 128, 1, 6, 28, k=5, padding=0),
    # 1-D and 3-D
    conv("conv1d N32 16->32 L1000 k5", 32, 16, 32, 1000, k=5, ndim=1),
    conv("conv1d N8 64->64 L256", 8, 64, 64, 256, ndim=1),
    conv("conv3d N8 3->16 16x32x32", 8, 3, 16, (16, 32, 32), ndim=3),
    conv("conv3d N4 32->32 8x28x28", 4, 32, 32, (8, 28, 28), ndim=3),
    # pooling: non-overlapping and overlapping windows
    Case("maxpool2d N32 32 28 2x2", "maxpool2d", (32, 32, 28, 28), dict(kernel_size=2)),
    Case(
        "maxpool2d N32 64 56 3x3 s2 p1",
        "maxpool2d",
        (32, 64, 56, 56),
        dict(kernel_size=3, stride=2, padding=1),
    ),  # fmt: skip
    Case("maxpool3d N8 16 16x32x32 2", "maxpool3d", (8, 16, 16, 32, 32), dict(kernel_size=2)),
    Case("avgpool2d N32 64 56 2x2", "avgpool2d", (32, 64, 56, 56), dict(kernel_size=2)),
    Case(
        "avgpool2d N32 64 56 3x3 s2 p1",
        "avgpool2d",
        (32, 64, 56, 56),
        dict(kernel_size=3, stride=2, padding=1),
    ),  # fmt: skip
    # batch norm (training mode) and ReLU
    Case("batchnorm2d N32 64 28", "batchnorm2d", (32, 64, 28, 28)),
    Case("batchnorm2d N128 32 28", "batchnorm2d", (128, 32, 28, 28)),
    Case("batchnorm2d N8 16 28", "batchnorm2d", (8, 16, 28, 28)),
    Case("relu N32 64 56", "relu", (32, 64, 56, 56)),
    Case("relu N128 32 28", "relu", (128, 32, 28, 28)),
]


# ---------------------------------------------------------------- building the two steps
def out_spatial(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def macs(case):
    """Multiply-accumulates of the forward (convs), or elements of the input (the rest)."""
    n, c, *spatial = case.shape
    if not case.kind.startswith("conv"):
        return n * c * math.prod(spatial)
    a = case.args
    k, s, p, g = a["kernel_size"], a.get("stride", 1), a["padding"], a.get("groups", 1)
    out = [out_spatial(d, k, s, p) for d in spatial]
    positions = n * math.prod(out)
    return positions * case.out_channels * (c // g) * k ** len(spatial)


def im2col_shapes(case):
    """``(groups, O_g, K, columns)`` of the products an im2col conv of ``case`` runs: per group,
    y = W col is (O_g x K)(K x columns), with O_g = C_out/groups, K = (C_in/groups) prod(k) and
    columns = N prod(out). None when the case is no GEMM-based conv (depthwise, pool, ...)."""
    if not case.kind.startswith("conv"):
        return None
    n, c, *spatial = case.shape
    a = case.args
    k, s, p, g = a["kernel_size"], a.get("stride", 1), a["padding"], a.get("groups", 1)
    if g == c == case.out_channels:  # depthwise: minidl sums over offsets, no GEMM
        return None
    columns = n * math.prod(out_spatial(d, k, s, p) for d in spatial)
    return g, case.out_channels // g, c // g * k ** len(spatial), columns


def numpy_floor(case, repeats):
    """``(gemms, copies)``: seconds that any NumPy conv built on im2col spends at least on
    ``case``, timed alone on ready operands. ``gemms``: y = W col, dW = dy col^T and (unless
    ``no-dx``) dcol = W^T dy, in the orientations minidl runs them; ``copies``: one plain copy
    of ``col`` per pass that must write or read all of it (two gathers and col2im; two passes
    without dx). Each runs on a block of at most 8 MiB of ``col`` (in cache, as minidl's
    chunks), scaled to all the columns. None when :func:`im2col_shapes` is None."""
    import numpy as np
    from timing import best_time

    shapes = im2col_shapes(case)
    if shapes is None:
        return None
    g, o_g, k, columns = shapes
    block = min(columns, max(1024, 2 * 2**20 // (g * k)))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(g, o_g, k)).astype(np.float32)
    col = rng.normal(size=(g, k, block)).astype(np.float32)
    dy = rng.normal(size=(g, o_g, block)).astype(np.float32)
    y, dw, dcol = np.empty_like(dy), np.empty((g, k, o_g), np.float32), np.empty_like(col)
    products = [lambda: np.matmul(w, col, out=y),
                lambda: np.matmul(col, dy.swapaxes(1, 2), out=dw)]  # fmt: skip
    if case.need_dx:
        products.append(lambda: np.matmul(w.swapaxes(1, 2), dy, out=dcol))
    gemms = sum(best_time(f, repeats) for f in products) * columns / block
    # the passes over col that im2col needs beyond the GEMMs, each at least one copy of it:
    # the forward's gather, the backward's gather (minidl keeps x, not col) and col2im
    copy = best_time(lambda: np.copyto(dcol, col), repeats) * columns / block
    return gemms, copy * (3 if case.need_dx else 2)


def col_bytes(case):
    """Bytes of the im2col matrix of the whole batch (float32): what the gather writes and
    col2im reads back, once each, beside the GEMMs (None when no GEMM-based conv)."""
    shapes = im2col_shapes(case)
    return None if shapes is None else 4 * shapes[0] * shapes[2] * shapes[3]


def minidl_step(case, x, dy):
    import minidl.layers as L

    rng = 0
    n, c = case.shape[:2]
    if case.kind.startswith("conv"):
        cls = {"conv1d": L.Conv1D, "conv2d": L.Conv2D, "conv3d": L.Conv3D}[case.kind]
        layer = cls(c, case.out_channels, rng=rng, **case.args)
    elif case.kind == "batchnorm2d":
        layer = L.BatchNorm2D(c)
    elif case.kind == "relu":
        layer = L.ReLU()
    else:
        cls = {"maxpool2d": L.MaxPool2D, "maxpool3d": L.MaxPool3D, "avgpool2d": L.AvgPool2D}
        layer = cls[case.kind](**case.args)
    layer.train()
    backward = layer.backward if case.need_dx else layer.backward_params

    def step():
        layer.forward(x)
        backward(dy)

    return layer, step


def torch_step(case, x_np, dy_np):
    import torch

    n, c = case.shape[:2]
    nn = torch.nn
    if case.kind.startswith("conv"):
        cls = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv3d": nn.Conv3d}[case.kind]
        module = cls(c, case.out_channels, **case.args)
    elif case.kind == "batchnorm2d":
        module = nn.BatchNorm2d(c)
    elif case.kind == "relu":
        module = nn.ReLU()
    else:
        cls = {"maxpool2d": nn.MaxPool2d, "maxpool3d": nn.MaxPool3d, "avgpool2d": nn.AvgPool2d}
        module = cls[case.kind](**case.args)
    module.train()
    x = torch.from_numpy(x_np).requires_grad_(case.need_dx)
    dy = torch.from_numpy(dy_np)
    params = list(module.parameters())

    def step():
        for p in params:
            p.grad = None  # minidl overwrites its grads: no accumulation on either side
        if x.grad is not None:
            x.grad = None
        module(x).backward(dy)

    return step


def gemm_peak(repeats):
    """Best float32 GFLOP/s of a 2048^3 NumPy matmul in this process (its thread setting)."""
    import numpy as np
    from timing import best_time

    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype(np.float32)
    return 2 * 2048**3 / best_time(lambda: a @ a, repeats) / 1e9


def time_cases(cases, repeats, threads, framework):
    """In this process (its BLAS thread count already set): best seconds of each case's step
    for one framework, and (minidl's process) the GEMM peak."""
    import numpy as np
    import torch
    from timing import best_time

    torch.set_num_threads(threads)
    times = []
    for case in cases:
        rng = np.random.default_rng(0)
        x = rng.normal(size=case.shape).astype(np.float32)
        layer, _ = minidl_step(case, x, None)
        dy = rng.normal(size=layer.output_shape(x.shape)).astype(np.float32)
        step = minidl_step(case, x, dy)[1] if framework == "minidl" else torch_step(case, x, dy)
        step()  # warm-up: caches, code paths, allocator
        times.append(best_time(step, repeats))
    if framework == "torch":
        return {"times": times, "peak": None, "floors": None}
    floors = [numpy_floor(case, repeats) for case in cases]
    return {"times": times, "peak": gemm_peak(repeats), "floors": floors}


def run_cases(cases, args, threads):
    """Alternate a minidl process and a PyTorch process ``args.rounds`` times; return rows."""
    from timing import alternating_processes

    peaks, floors = [], []

    def run(framework):
        got = run_in_subprocess(threads, framework, args)
        peaks.append(got["peak"] or 0.0)
        if got["floors"] is not None:
            floors.append(got["floors"])
        return got["times"]

    best = alternating_processes(run, ["minidl", "torch"], args.rounds)
    peak = max(peaks)
    # per case, the best (gemms, copies) over the rounds, each part on its own
    floor = [None if f[0] is None else tuple(map(min, zip(*f, strict=True)))
             for f in zip(*floors, strict=True)]  # fmt: skip
    rows = []
    for case, t_ours, t_torch, t_floor in zip(cases, best["minidl"], best["torch"], floor,
                                              strict=True):  # fmt: skip
        work = macs(case)
        products = 3 if case.need_dx else 2
        gflops = 2 * products * work / t_ours / 1e9 if case.kind.startswith("conv") else None
        rows.append(dict(asdict(case), threads=threads, minidl_ms=t_ours * 1e3,
                         torch_ms=t_torch * 1e3, ratio=t_ours / t_torch, macs=work,
                         gflops=gflops, peak_gflops=peak, col_bytes=col_bytes(case),
                         **_floor_fields(t_floor, t_torch)))  # fmt: skip
        print(f"  {threads} thr  {case.name:<32} {t_ours * 1e3:8.2f} ms {t_torch * 1e3:8.2f} ms"
              f"  {t_ours / t_torch:5.2f}x", file=sys.stderr, flush=True)  # fmt: skip
    return rows


def _floor_fields(floor, t_torch):
    """The row's floor figures: ms of the GEMMs and of the copies, their sum ÷ PyTorch."""
    if floor is None:
        return dict(gemm_ms=None, copies_ms=None, floor_ratio=None, gemm_ratio=None)
    gemms, copies = floor
    return dict(gemm_ms=gemms * 1e3, copies_ms=copies * 1e3,
                floor_ratio=(gemms + copies) / t_torch, gemm_ratio=gemms / t_torch)  # fmt: skip


# ---------------------------------------------------------------- report
def summarize(rows):
    import numpy as np

    lines = []
    for threads in sorted({r["threads"] for r in rows}):
        ratios = np.array([r["ratio"] for r in rows if r["threads"] == threads])
        worst = max((r for r in rows if r["threads"] == threads), key=lambda r: r["ratio"])
        plural = "s" if threads > 1 else ""
        lines.append(f"{threads} thread{plural}: median {np.median(ratios):.2f}x, "
                     f"worst {worst['ratio']:.2f}x ({worst['name']}), "
                     f"{np.sum(ratios <= 1.5)}/{len(ratios)} cases <= 1.5x")  # fmt: skip
    return lines


def markdown(rows):
    by_name = {}
    for r in rows:
        by_name.setdefault(r["name"], {})[r["threads"]] = r
    threads = sorted({r["threads"] for r in rows})
    head = (
        "| case (float32, forward + backward) | MACs or elements | im2col MB | "
        + " | ".join(f"minidl ÷ PyTorch, {t} thr" for t in threads) + " | "
        + " | ".join(f"NumPy floor ÷ PyTorch, {t} thr" for t in threads)
        + f" | minidl GFLOP/s at {threads[-1]} thr (% of that GEMM peak) |"
    )
    out = [head, "|" + "---|" * (4 + 2 * len(threads))]
    for name, per in by_name.items():
        first = per[threads[-1]]
        flops = ""
        if first["gflops"] is not None:
            flops = f"{first['gflops']:.0f} ({100 * first['gflops'] / first['peak_gflops']:.0f}%)"
        mb = "" if first["col_bytes"] is None else f"{first['col_bytes'] / 2**20:.0f}"
        ratios = " | ".join(f"{per[t]['ratio']:.2f}×" for t in threads if t in per)
        floors = " | ".join(_times(per[t]["floor_ratio"]) for t in threads if t in per)
        out.append(f"| {name} | {first['macs']:,} | {mb} | {ratios} | {floors} | {flops} |")
    return "\n".join(out)


def merged_markdown(runs):
    """One table over several runs (``--json`` files of this script): each cell the range
    (lowest-highest) of that figure over the runs, for the README; then the summary lines."""
    import numpy as np

    cells = {}
    for run in runs:
        for r in run["rows"]:
            cells.setdefault(r["name"], {}).setdefault(r["threads"], []).append(r)
    head = ("| case (float32, forward + backward) | MACs or elements | im2col MB | minidl ÷ "
            "PyTorch, 1 thread | minidl ÷ PyTorch, 2 threads | NumPy floor ÷ PyTorch, 1 thread "
            "| NumPy floor ÷ PyTorch, 2 threads "
            "| GFLOP/s, 1 thread: minidl (% of the GEMM peak) / PyTorch |")  # fmt: skip
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for name, per in cells.items():
        one, two = per.get(1, []), per.get(2, [])
        first = (one or two)[0]
        mb = "" if first.get("col_bytes") is None else f"{first['col_bytes'] / 2**20:.0f}"
        flops = ""
        if one and one[0]["gflops"] is not None:
            ours = [r["gflops"] for r in one]
            peak = max(r["peak_gflops"] for r in one)
            theirs = [r["gflops"] * r["ratio"] for r in one]  # the same work in PyTorch's time
            share = _span([100 * g / peak for g in ours], "{:.0f}", "%")
            flops = f"{_span(ours, '{:.0f}', '')} ({share}) / {_span(theirs, '{:.0f}', '')}"
        out.append(f"| {name} | {first['macs']:,} | {mb} | {_span([r['ratio'] for r in one])} | "
                   f"{_span([r['ratio'] for r in two])} | "
                   f"{_span([r.get('floor_ratio') for r in one])} | "
                   f"{_span([r.get('floor_ratio') for r in two])} | {flops} |")  # fmt: skip
    lines = ["\n".join(out), ""]
    for threads in (1, 2):
        per_run = [[r for r in run["rows"] if r["threads"] == threads] for run in runs]
        per_run = [rows for rows in per_run if rows]
        if not per_run:
            continue
        medians = [float(np.median([r["ratio"] for r in rows])) for rows in per_run]
        under = [sum(r["ratio"] <= 1.5 for r in rows) for rows in per_run]
        under = f"{_span(under, '{:d}', '')} of {len(per_run[0])}"
        lines.append(f"{threads} thread{'s' * (threads > 1)}: median {_span(medians)}, "
                     f"worst {_worst(per_run)}; {under} cases <= 1.5×; "
                     f"{_always_above(per_run, 1.5)}")  # fmt: skip
    loads = ", ".join(f"{run['load'][0]:.2f}" for run in runs)
    where = runs[0].get("machine", "machine not recorded")
    lines.append(f"{len(runs)} runs on {where}; load average at their starts: {loads}")
    return "\n".join(lines)


def _worst(per_run):
    """Each run's worst ratio, said once with its range where every run's worst is one shape,
    else run by run (``run k`` counts from 1 in the order the files were given)."""
    worst = [max(rows, key=lambda r: r["ratio"]) for rows in per_run]
    names = {w["name"] for w in worst}
    if len(names) == 1:
        every = ", in every run" if len(worst) > 1 else ""
        return f"{_span([w['ratio'] for w in worst])} ({names.pop()}{every})"
    return ", ".join(f"{w['ratio']:.2f}× ({w['name']}, run {k})" for k, w in enumerate(worst, 1))


def _always_above(per_run, limit):
    """The shapes above ``limit`` in every run, named (the targets' hard cases)."""
    above = [{r["name"] for r in rows if r["ratio"] > limit} for rows in per_run]
    names = [r["name"] for r in per_run[0] if all(r["name"] in a for a in above)]
    listed = f" ({', '.join(names)})" if names else ""
    return f"above {limit}× in every run: {len(names)}{listed}"


def check_one_machine(runs, paths):
    """Refuse to merge runs made on different machines (their ``machine`` fields differ): a
    range over two CPUs would be neither's. Runs saved before the field existed say nothing
    and are taken as they come."""
    seen = {run["machine"]: path for run, path in zip(runs, paths, strict=True)
            if "machine" in run}  # fmt: skip
    if len(seen) > 1:
        listed = "; ".join(f"{path}: {where}" for where, path in seen.items())
        raise SystemExit(f"--merge: these runs were made on different machines ({listed})")


def _span(values, fmt="{:.2f}", unit="×"):
    """``lo–hi×`` of the values (one figure when they agree to the shown digits), '' if none."""
    values = [v for v in values if v is not None]
    if not values:
        return ""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return (lo if lo == hi else f"{lo}–{hi}") + unit


def _times(ratio):
    return "" if ratio is None else f"{ratio:.2f}×"


def plot(rows, path, where=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.4))
    # a kind's prefix: its marker and its name in the legend
    markers = {"conv": ("o", "conv"), "maxp": ("^", "max pool"), "avgp": ("v", "avg pool"),
               "batc": ("s", "batch norm"), "relu": ("D", "ReLU")}  # fmt: skip
    for threads, colour in ((1, "C0"), (2, "C1")):
        for prefix, (marker, name) in markers.items():
            sel = [r for r in rows if r["threads"] == threads and r["kind"].startswith(prefix)]
            if sel:
                label = f"{name}, {threads} thread{'s' * (threads > 1)}"
                ax.scatter([r["macs"] for r in sel], [r["ratio"] for r in sel], c=colour,
                           marker=marker, s=28, alpha=0.8, label=label)  # fmt: skip
    floors = [r for r in rows if r["threads"] == 1 and r.get("floor_ratio") is not None]
    if floors:
        ax.scatter([r["macs"] for r in floors], [r["floor_ratio"] for r in floors], c="k",
                   marker="x", s=18, alpha=0.6, label="a conv's NumPy floor, 1 thread")  # fmt: skip
    for level, style in ((1.0, "-"), (1.1, ":"), (1.5, "--")):
        ax.axhline(level, color="k", lw=0.8, ls=style)
    ax.set_xscale("log")
    ax.set_xlabel("forward multiply-accumulates (convs) or input elements (pool, norm, ReLU)")
    ax.set_ylabel("minidl time ÷ PyTorch time")
    title = "forward + backward, float32: ratio against the work"
    ax.set_title(title if where is None else f"{title}\n{where}", fontsize=10)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # off the points
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_in_subprocess(threads, framework, args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", str(threads), "--repeats", str(args.repeats)]
    cmd += ["--framework", framework]
    cmd += ["--only", args.only] if args.only else []
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--threads", default="1,2", help="thread settings (default 1,2)")
    parser.add_argument("--json", help="write every row to this JSON file")
    parser.add_argument("--plot", help="ratio-vs-MACs plot (PNG; a sweep writes sweep.png "
                        "unless told, --merge only when told)")  # fmt: skip
    parser.add_argument("--markdown", help="write the table as markdown to this file")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the processes")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="print a table of ranges over runs saved by --json; exit")  # fmt: skip
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeats = args.repeats or (3 if args.quick else REPEATS)
    if args.merge:
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.append(json.load(f))
        check_one_machine(runs, args.merge)
        print(merged_markdown(runs))
        if args.plot:  # every run's points
            plot([r for run in runs for r in run["rows"]], args.plot, runs[0].get("machine"))
        return
    cases = [c for c in CASES if args.only in c.name]
    if args.child:
        print(json.dumps(time_cases(cases, args.repeats, args.child, args.framework)))
        return
    from timing import machine

    load, where = os.getloadavg(), machine()
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        rows += run_cases(cases, args, threads)
    import torch

    print(f"minidl vs PyTorch {torch.__version__}, best of {args.repeats} x {args.rounds} "
          f"alternating processes; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start; {where}")  # fmt: skip
    peaks = sorted({(r["threads"], round(r["peak_gflops"])) for r in rows})
    print("float32 GEMM peak (2048^3 NumPy matmul): " +
          ", ".join(f"{p} GFLOP/s at {t} thread(s)" for t, p in peaks))  # fmt: skip
    table = markdown(rows)
    print(table)
    for line in summarize(rows):
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": load, "machine": where, "rows": rows}, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n\n" + "\n".join(summarize(rows)) + "\n")
    args.plot = args.plot or "sweep.png"
    plot(rows, args.plot, where)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
