"""Time minidl's Dense, ReLU and BatchNorm2D against PyTorch 2.13 CPU in the same run.

    python benchmarks/bench_dense.py            # all cases, prints a table of ratios
    python benchmarks/bench_dense.py --quick    # fewer repeats
    python benchmarks/bench_dense.py --threads 1  # both single-threaded (less load noise)

Float32, forward + backward through the layer objects (what a training step pays), best of
``REPEATS`` wall-clock runs, minidl and PyTorch interleaved so both see the same machine load
(the machines are shared by several users: expect 10-30 % noise; rerun when a ratio looks
odd). PyTorch's input has ``requires_grad=True`` so it computes ``dx`` as minidl's backward
does, and the upstream gradient is a fixed random array passed to ``y.backward(dy)``.

Cases (issue 3, section 6):
(a) Dense 256 x 784 -> 512 (nn.Linear); target <= 1.1x.
(b) ReLU on 64 x 32 x 50 x 50.
(c) BatchNorm2D(32) in training mode on 64 x 32 x 50 x 50 (running statistics updated).
(d) the naive loop twins against the vectorized ops on small cases (what vectorization buys).

On a machine shared by many busy processes a step longer than a scheduler time slice (~3 ms)
is almost always preempted, so best-of wall-clock times of the ~10-30 ms steps here are
inflated at random. ``--threads 1 --cpu-time`` measures the CPU time each framework's
single thread spends, which preemption does not inflate (CPU time would count spinning BLAS
threads, so use it single-threaded only).
"""

import argparse
import os
import time

# thread counts must be fixed before NumPy's BLAS and torch load, so parse the flag first
_parser = argparse.ArgumentParser()
_parser.add_argument("--quick", action="store_true")
_parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks")
_parser.add_argument(
    "--cpu-time",
    action="store_true",
    help="time with process CPU time, not wall clock (use with --threads 1 on a loaded machine)",
)
ARGS = _parser.parse_args()
CLOCK = time.process_time if ARGS.cpu_time else time.perf_counter
if ARGS.threads:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import interleaved  # noqa: E402

from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward  # noqa: E402
from minidl.functional.batchnorm_naive import (  # noqa: E402
    batch_norm_backward_naive,
    batch_norm_forward_naive,
)
from minidl.functional.dense import (  # noqa: E402
    dense_backward,
    dense_backward_naive,
    dense_forward,
    dense_forward_naive,
)
from minidl.layers.activations import ReLU  # noqa: E402
from minidl.layers.batchnorm import BatchNorm2D  # noqa: E402
from minidl.layers.dense import Dense  # noqa: E402

REPEATS = 15


def pair(ours_layer, theirs_layer, x, dy):
    """Forward+backward closures for a minidl layer and a torch module on the same data."""
    xt = torch.tensor(x, requires_grad=True)
    dyt = torch.tensor(dy)

    def ours():
        ours_layer(x)
        ours_layer.backward(dy)

    def theirs():
        xt.grad = None
        for p in theirs_layer.parameters():
            p.grad = None
        theirs_layer(xt).backward(dyt)

    return ours, theirs


def main():
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    repeats = 5 if ARGS.quick else REPEATS
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    clock = "process CPU time" if ARGS.cpu_time else "wall clock"
    print(f"float32, forward+backward, best of {repeats}, {clock}\n")
    print(f"{'case':<42}{'minidl ms':>10}{'torch ms':>10}{'ratio':>8}")

    x = rng.normal(size=(256, 784)).astype(np.float32)
    dy = rng.normal(size=(256, 512)).astype(np.float32)
    layer = Dense(784, 512, rng=rng)
    ref = torch.nn.Linear(784, 512)
    cases = [("(a) Dense 256x784 -> 512", *pair(layer, ref, x, dy))]

    big = rng.normal(size=(64, 32, 50, 50)).astype(np.float32)
    dbig = rng.normal(size=big.shape).astype(np.float32)
    cases.append(("(b) ReLU 64x32x50x50", *pair(ReLU(), torch.nn.ReLU(), big, dbig)))
    bn = pair(BatchNorm2D(32), torch.nn.BatchNorm2d(32), big, dbig)
    cases.append(("(c) BatchNorm2D(32) train 64x32x50x50", *bn))

    for name, ours, theirs in cases:
        ours(), theirs()  # warm-up: first-call allocations and code paths
        t_ours, t_theirs = interleaved([ours, theirs], repeats, clock=CLOCK)
        print(f"{name:<42}{t_ours * 1e3:>10.2f}{t_theirs * 1e3:>10.2f}{t_ours / t_theirs:>8.2f}")

    print("\n(d) naive loop twins vs vectorized, float64, small cases")
    print(f"{'case':<42}{'naive ms':>10}{'vector ms':>10}{'speed-up':>10}")
    xs, ws, bs = rng.normal(size=(8, 64)), rng.normal(size=(32, 64)), rng.normal(size=32)
    dys = rng.normal(size=(8, 32))
    t_naive, t_vec = interleaved(
        [
            lambda: dense_backward_naive(dys, dense_forward_naive(xs, ws, bs)[1]),
            lambda: dense_backward(dys, dense_forward(xs, ws, bs)[1]),
        ],
        3,
        clock=CLOCK,
    )
    print(
        f"{'dense 8x64 -> 32 fwd+bwd':<42}{t_naive * 1e3:>10.2f}{t_vec * 1e3:>10.3f}"
        f"{t_naive / t_vec:>10.0f}"
    )
    xb, gb = rng.normal(size=(8, 4, 16, 16)), rng.normal(size=4)
    dyb = rng.normal(size=xb.shape)

    def bn_vec():
        _, cache = batch_norm_forward(xb, gb, gb)
        batch_norm_backward(dyb, cache)

    def bn_naive():
        _, cache = batch_norm_forward_naive(xb, gb, gb)
        batch_norm_backward_naive(dyb, cache)

    t_naive, t_vec = interleaved([bn_naive, bn_vec], 3, clock=CLOCK)
    print(
        f"{'batch norm 8x4x16x16 fwd+bwd':<42}{t_naive * 1e3:>10.2f}{t_vec * 1e3:>10.3f}"
        f"{t_naive / t_vec:>10.0f}"
    )


if __name__ == "__main__":
    main()
