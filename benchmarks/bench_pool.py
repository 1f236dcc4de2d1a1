"""Time minidl's pooling layers against PyTorch 2.13 CPU in the same run.

    python benchmarks/bench_pool.py            # all cases, prints a table of ratios
    python benchmarks/bench_pool.py --quick    # fewer repeats
    python benchmarks/bench_pool.py --threads 1  # both single-threaded (less load noise)

Float32, forward + backward through the layer objects (what a training step pays), best of
``REPEATS`` wall-clock runs, minidl and PyTorch interleaved so both see the same machine load
(the machines are shared by several users: expect 10-30 % noise; rerun when a ratio looks
odd). PyTorch's input has ``requires_grad=True`` so it computes ``dx`` as minidl's backward
does; the upstream gradient is a fixed random array passed to ``y.backward(dy)``.

Cases:
(a) MaxPool2D 2x2 on 64 x 32 x 100 x 100 (article 000's pool after its 32-filter conv): the
    reshape fast path; forward alone too (minidl's forward also finds the first-max offsets
    the backward needs, PyTorch's its argmax indices).
(b) MaxPool2D 3x3 stride 2 padding 1 on 64 x 32 x 50 x 50: the general (strided-slice) path.
(c) AvgPool2D 2x2 and (d) AvgPool2D 3x3 s2 p1 ceil_mode on 64 x 32 x 50 x 50.
(e) MaxPool3D 2 on 8 x 16 x 16 x 32 x 32; (f) GlobalAvgPool vs AdaptiveAvgPool2d(1) + flatten.
(g) the naive loop twins against the vectorized ops on a small case.
"""

import argparse
import os

# thread counts must be fixed before NumPy's BLAS and torch load, so parse the flag first
_parser = argparse.ArgumentParser()
_parser.add_argument("--quick", action="store_true")
_parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks")
ARGS = _parser.parse_args()
if ARGS.threads:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import interleaved  # noqa: E402

from minidl.functional import pool as P  # noqa: E402
from minidl.functional import pool_naive as PN  # noqa: E402
from minidl.layers.pool import AvgPool2D, GlobalAvgPool, MaxPool2D, MaxPool3D  # noqa: E402

REPEATS = 10


def pair(ours_layer, theirs_layer, x, backward=True):
    """Forward(+backward) closures for a minidl layer and a torch module on the same data."""
    y = ours_layer(x)
    dy = np.random.default_rng(1).normal(size=y.shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=backward)
    dyt = torch.tensor(dy)

    def ours():
        ours_layer(x)
        if backward:
            ours_layer.backward(dy)

    def theirs():
        if not backward:
            with torch.no_grad():
                theirs_layer(xt)
            return
        xt.grad = None
        theirs_layer(xt).backward(dyt)

    return ours, theirs


def main():
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    repeats = 4 if ARGS.quick else REPEATS
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(f"float32, best of {repeats}\n")
    print(f"{'case':<52}{'minidl ms':>10}{'torch ms':>10}{'ratio':>8}")

    x000 = rng.normal(size=(64, 32, 100, 100)).astype(np.float32)
    x50 = rng.normal(size=(64, 32, 50, 50)).astype(np.float32)
    x3d = rng.normal(size=(8, 16, 16, 32, 32)).astype(np.float32)
    nn = torch.nn
    flat_gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    cases = [
        ("(a) MaxPool2D 2x2, 64x32x100x100 fwd+bwd", MaxPool2D(2), nn.MaxPool2d(2), x000, True),
        ("(a) MaxPool2D 2x2, 64x32x100x100 forward", MaxPool2D(2), nn.MaxPool2d(2), x000, False),
        ("(b) MaxPool2D 3x3 s2 p1, 64x32x50x50 fwd+bwd", MaxPool2D(3, 2, 1),
         nn.MaxPool2d(3, 2, 1), x50, True),
        ("(c) AvgPool2D 2x2, 64x32x50x50 fwd+bwd", AvgPool2D(2), nn.AvgPool2d(2), x50, True),
        ("(d) AvgPool2D 3x3 s2 p1 ceil, 64x32x50x50 fwd+bwd", AvgPool2D(3, 2, 1, True),
         nn.AvgPool2d(3, 2, 1, ceil_mode=True), x50, True),
        ("(e) MaxPool3D 2, 8x16x16x32x32 fwd+bwd", MaxPool3D(2), nn.MaxPool3d(2), x3d, True),
        ("(f) GlobalAvgPool, 64x32x50x50 fwd+bwd", GlobalAvgPool(), flat_gap, x50, True),
    ]  # fmt: skip
    for name, ours_layer, theirs_layer, x, backward in cases:
        ours, theirs = pair(ours_layer, theirs_layer, x, backward)
        ours(), theirs()  # warm-up: first-call allocations and code paths
        t_ours, t_theirs = interleaved([ours, theirs], repeats)
        print(f"{name:<52}{t_ours * 1e3:>10.2f}{t_theirs * 1e3:>10.2f}{t_ours / t_theirs:>8.2f}")

    print("\n(g) naive loop twins vs vectorized, float64, 2x4x16x16, fwd+bwd")
    print(f"{'case':<52}{'naive ms':>10}{'vector ms':>10}{'speed-up':>10}")
    xs = rng.normal(size=(2, 4, 16, 16))
    for kind, args in [("max", (2,)), ("max", (3, 2, 1)), ("avg", (3, 2, 1, True))]:
        fwd, bwd = getattr(P, f"{kind}_pool_forward"), getattr(P, f"{kind}_pool_backward")
        nfwd = getattr(PN, f"{kind}_pool_forward_naive")
        nbwd = getattr(PN, f"{kind}_pool_backward_naive")
        dys = rng.normal(size=fwd(xs, *args)[0].shape)

        def vec(fwd=fwd, bwd=bwd, args=args, dys=dys):
            bwd(dys, fwd(xs, *args)[1])

        def naive(nfwd=nfwd, nbwd=nbwd, args=args, dys=dys):
            nbwd(dys, nfwd(xs, *args)[1])

        t_naive, t_vec = interleaved([naive, vec], 3)
        label = f"{kind}_pool{args}"
        print(f"{label:<52}{t_naive * 1e3:>10.2f}{t_vec * 1e3:>10.3f}{t_naive / t_vec:>10.0f}")


if __name__ == "__main__":
    main()
