"""``python -m minidl``: the tour on bundled data (grows with the library)."""

import argparse

import numpy as np

import minidl
from minidl.gradcheck import numerical_gradient, rel_error


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minidl",
        description="minidl's tour: runs the library's main job on the bundled data.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    rng = minidl.seed(args.seed)
    print(f"minidl {minidl.__version__}")
    x = rng.normal(size=(4, 3))
    err = rel_error(numerical_gradient(lambda: np.sum(np.tanh(x)), x), 1 - np.tanh(x) ** 2)
    print(f"gradcheck of tanh: relative error {err:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
