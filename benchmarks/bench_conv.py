"""Time and measure minidl's convolutions against PyTorch 2.13 CPU in the same run.

    python benchmarks/bench_conv.py            # all cases, prints a table of ratios
    python benchmarks/bench_conv.py --quick    # fewer repeats

Float32, forward + backward, best of ``REPEATS`` wall-clock runs, minidl and PyTorch
interleaved so both see the same machine load (the machines are shared by several users: expect
10-30 % noise; rerun when a ratio looks odd). Both frameworks compute the same gradients: the
PyTorch input has ``requires_grad=True`` so it computes ``dx`` as minidl's ``backward`` does;
the column "torch no-dx" is PyTorch without the input gradient (what a first layer costs there).

Cases (issue 3, section 6):
(a) article 000: N=64 images 1x100x100, 32 filters 5x5 SAME, ReLU, 2x2 max pool; <= 1.2x.
(b) Conv3D 8x3x16x32x32 -> 16 filters 3x3x3 (padding 1) and the matching Conv2Plus1D
    (M = 17 by Tran et al.'s formula); <= 2x.
(c) peak memory of (a): each framework in a fresh subprocess; after imports, the data and the
    layers are created and a tiny warm-up step loads the code paths, the current RSS is read,
    the RSS high-water mark is reset (/proc/self/clear_refs), ONE full forward + backward runs,
    and VmHWM minus the baseline is the step's peak extra memory (Linux only). minidl's figure is
    also given by ``tracemalloc`` (NumPy reports its buffers to it), which sees only arrays.
    Target <= 1.1x.
(d) the naive loop twin against the vectorized conv (and its plain im2col tier) on a tiny case.
(e) ConvTranspose2D, a decoder's upsampling 8x64x28x28 -> 32 (4x4, stride 2, padding 1) and a
    stride-1 one 32x64x28x28 -> 64 (3x3, padding 1): on the convolution's fast paths.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from timing import interleaved

REPEATS = 7
ART000 = dict(n=64, c=1, hw=100, filters=32, k=5)


# ---------------------------------------------------------------- the steps being timed
def minidl_art000(n=ART000["n"]):
    from minidl.layers.activations import ReLU
    from minidl.layers.conv import Conv2D
    from minidl.layers.pool import MaxPool2D

    rng = np.random.default_rng(0)
    a = ART000
    x = rng.normal(size=(n, a["c"], a["hw"], a["hw"])).astype(np.float32)
    layers = [Conv2D(a["c"], a["filters"], a["k"], padding="same", rng=rng), ReLU(), MaxPool2D(2)]
    dy = rng.normal(size=(n, a["filters"], a["hw"] // 2, a["hw"] // 2)).astype(np.float32)

    def step():
        h = x
        for layer in layers:
            h = layer.forward(h)
        g = dy
        for layer in reversed(layers):
            g = layer.backward(g)
        return g

    return step


def torch_art000(n=ART000["n"], need_dx=True):
    import torch

    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    a = ART000
    x = torch.randn(n, a["c"], a["hw"], a["hw"], generator=g).requires_grad_(need_dx)
    conv = torch.nn.Conv2d(a["c"], a["filters"], a["k"], padding="same")
    dy = torch.randn(n, a["filters"], a["hw"] // 2, a["hw"] // 2, generator=g)

    def step():
        F.max_pool2d(F.relu(conv(x)), 2).backward(dy)

    return step


def minidl_conv3d(plus1=False):
    from minidl.layers.conv import Conv2Plus1D, Conv3D

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 16, 32, 32)).astype(np.float32)
    cls = Conv2Plus1D if plus1 else Conv3D
    layer = cls(3, 16, 3, padding=1, rng=rng)
    dy = rng.normal(size=layer.output_shape(x.shape)).astype(np.float32)
    return lambda: (layer.forward(x), layer.backward(dy))


def torch_conv3d(plus1=False, need_dx=True):
    import torch

    from minidl.layers.complexity_formulas import mid_channels_tran

    x = torch.randn(8, 3, 16, 32, 32).requires_grad_(need_dx)
    if plus1:
        m = mid_channels_tran(3, 3, 3, 16)
        net = torch.nn.Sequential(
            torch.nn.Conv3d(3, m, (1, 3, 3), padding=(0, 1, 1)),
            torch.nn.ReLU(),
            torch.nn.Conv3d(m, 16, (3, 1, 1), padding=(1, 0, 0)),
        )
    else:
        net = torch.nn.Conv3d(3, 16, 3, padding=1)
    dy = torch.randn(8, 16, 16, 32, 32)
    return lambda: net(x).backward(dy)


CONV_T = {"s2": dict(n=8, c_in=64, c_out=32, hw=28, k=4, stride=2, padding=1),
          "s1": dict(n=32, c_in=64, c_out=64, hw=28, k=3, stride=1, padding=1)}


def minidl_conv_t(case):
    from minidl.layers.conv_transpose import ConvTranspose2D

    a, rng = CONV_T[case], np.random.default_rng(0)
    x = rng.normal(size=(a["n"], a["c_in"], a["hw"], a["hw"])).astype(np.float32)
    layer = ConvTranspose2D(a["c_in"], a["c_out"], a["k"], stride=a["stride"],
                            padding=a["padding"], rng=rng)  # fmt: skip
    dy = rng.normal(size=layer.forward(x).shape).astype(np.float32)
    return lambda: (layer.forward(x), layer.backward(dy))


def torch_conv_t(case, need_dx=True):
    import torch

    a = CONV_T[case]
    x = torch.randn(a["n"], a["c_in"], a["hw"], a["hw"]).requires_grad_(need_dx)
    net = torch.nn.ConvTranspose2d(a["c_in"], a["c_out"], a["k"], stride=a["stride"],
                                   padding=a["padding"])  # fmt: skip
    dy = torch.randn(net(x).shape)
    return lambda: net(x).backward(dy)


# ---------------------------------------------------------------- memory, in a subprocess
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(framework):
    """Runs in a fresh interpreter: peak extra resident memory (MiB) of one article-000 step.

    Baseline = current RSS once data, layers and a tiny warm-up step exist; then the RSS
    high-water mark is reset (``echo 5 > /proc/self/clear_refs``, Linux) so the imports' own
    transient peak cannot hide the step's, and peak = VmHWM after one forward + backward.
    """
    import gc
    import tracemalloc

    if framework == "torch":
        import torch

        torch.manual_seed(0)
        make = torch_art000
    else:
        make = minidl_art000
    make(n=1)()  # warm-up: load code paths and libraries at negligible data size
    step = make()
    gc.collect()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    if framework == "minidl":
        tracemalloc.start()
    step()
    peak = _status_kib("VmHWM")
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if framework == "minidl" else None
    print(json.dumps({"rss_mib": (peak - before) / 1024, "tracemalloc_mib": traced}))


def memory_in_subprocess(framework):
    out = subprocess.run(
        [sys.executable, __file__, "--memory", framework],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- naive vs vectorized
def naive_vs_fast(repeats):
    from minidl.functional.conv import (
        conv_nd_backward,
        conv_nd_backward_naive,
        conv_nd_backward_vectorized,
        conv_nd_forward,
        conv_nd_forward_naive,
        conv_nd_forward_vectorized,
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, 16, 16)).astype(np.float32)
    w = rng.normal(size=(4, 1, 5, 5)).astype(np.float32)
    b = np.zeros(4, np.float32)
    dy = rng.normal(size=(2, 4, 16, 16)).astype(np.float32)

    def run(fwd, bwd):
        return lambda: bwd(dy, fwd(x, w, b, padding="same")[1])

    return interleaved([run(conv_nd_forward_naive, conv_nd_backward_naive),
                        run(conv_nd_forward, conv_nd_backward),
                        run(conv_nd_forward_vectorized, conv_nd_backward_vectorized)],
                       max(2, repeats // 3))  # fmt: skip


def row(name, t_ours, t_ref, t_ref_nodx=None, target=None):
    extra = f"{t_ref_nodx * 1e3:9.1f}" if t_ref_nodx is not None else " " * 9
    goal = f"<= {target:.1f}x" if target else ""
    print(f"{name:<34s} {t_ours * 1e3:9.1f} {t_ref * 1e3:9.1f} {extra}   "
          f"{t_ours / t_ref:5.2f}x  {goal}")  # fmt: skip


def time_table(repeats):
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(f"{'float32, forward + backward':<34s} {'minidl':>9s} {'torch':>9s} "
          f"{'torch no-dx':>11s} ratio (ms; best of {repeats})")  # fmt: skip
    cases = [
        ("(a) article 000 conv+ReLU+pool", minidl_art000, torch_art000, {}, 1.2),
        ("(b) Conv3D 8x3x16x32x32, 16x3^3", minidl_conv3d, torch_conv3d, {}, 2.0),
        ("(b) Conv2Plus1D, same, M=17", minidl_conv3d, torch_conv3d, {"plus1": True}, 2.0),
        ("(e) ConvT2D 8x64x28^2->32 4x4 s2", minidl_conv_t, torch_conv_t, {"case": "s2"}, None),
        ("(e) ConvT2D 32x64x28^2->64 3x3", minidl_conv_t, torch_conv_t, {"case": "s1"}, None),
    ]
    for name, ours, ref, kw, target in cases:
        t_ours, t_ref, t_nodx = interleaved(
            [ours(**kw), ref(**kw), ref(**kw, need_dx=False)], repeats
        )
        row(name, t_ours, t_ref, t_nodx, target)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--memory", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--one-thread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = 3 if args.quick else REPEATS
    if args.memory:
        measure_memory(args.memory)
        return
    if args.one_thread:
        import torch

        torch.set_num_threads(1)
        time_table(repeats)
        return
    print("== default threads (OpenBLAS and torch: one per core) ==")
    time_table(repeats)
    # On a loaded machine two BLAS threads per process mostly wait for each other; one thread
    # each is the steadier comparison. OPENBLAS_NUM_THREADS must be set before numpy loads.
    print("== one thread each (fresh process, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)) ==")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--one-thread"] + (["--quick"] if args.quick else [])
    print(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout, end="")

    mem = {fw: memory_in_subprocess(fw) for fw in ("minidl", "torch")}
    ours, theirs = mem["minidl"]["rss_mib"], mem["torch"]["rss_mib"]
    print(f"(c) article 000 peak extra RSS: minidl {ours:.0f} MiB (tracemalloc "
          f"{mem['minidl']['tracemalloc_mib']:.0f} MiB), torch {theirs:.0f} MiB; "
          f"ratio {ours / theirs:.2f}x (target <= 1.1x)")  # fmt: skip
    t_naive, t_fast, t_plain = naive_vs_fast(repeats)
    print(f"(d) naive loops vs im2col, 2x1x16x16, 4 5x5 SAME: naive {t_naive * 1e3:.0f} ms, "
          f"vectorized {t_fast * 1e3:.2f} ms: {t_naive / t_fast:.0f}x faster "
          f"(the plain im2col tier: {t_plain * 1e3:.2f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
