"""Regenerate the golden files: ``python -m minidl.conformance.generate [--out DIR] [FAMILY ...]``.

For every case of every family (:mod:`minidl.conformance.cases`) minidl computes, in float64,
the outputs and, for a fixed random upstream gradient ``dy`` (drawn from a generator seeded by
the family and case name), the gradients of ``sum(y * dy)`` with respect to the inputs and
parameters. The functions used are minidl's own (:mod:`minidl.conformance.reference`) called
through the same NumPy adapter a student's function goes through. Files are written with
:func:`minidl.conformance.store.save_family` (atomic, no pickles);
``tests/conformance/test_conformance_golden.py`` regenerates into a temporary directory and
holds the result equal to the stored files.
"""

import argparse
import sys
import zlib

import numpy as np

from minidl._version import __version__
from minidl.conformance.adapters import numpy_adapter
from minidl.conformance.cases import FAMILIES, get_family
from minidl.conformance.reference import REFERENCE
from minidl.conformance.store import FORMAT, GOLDEN_DIR, GoldenCase, save_family


def golden_cases(family):
    """Compute every case of ``family`` with minidl; returns a list of GoldenCase."""
    forward, backward = REFERENCE[family.name]
    run = numpy_adapter(forward, family, backward)
    out = []
    for case in family.cases:
        outputs, _ = run(case.inputs, case.kwargs)
        dy = grads = None
        if run.can_grad:
            seed = zlib.crc32(f"{family.name}/{case.name}/dy".encode())
            y = outputs[family.outputs[0]]
            dy = np.random.default_rng(seed).normal(size=y.shape)
            outputs, grads = run(case.inputs, case.kwargs, dy)
        out.append(GoldenCase(case.name, case.inputs, case.kwargs, outputs, dy, grads))
    return out


def meta_of(family):
    return {
        "family": family.name,
        "signature": family.signature,
        "format": FORMAT,
        "minidl_version": __version__,
        "cases": [{"name": c.name, "kwargs": c.kwargs} for c in family.cases],
    }


def generate(out_dir=None, names=None):
    """Write ``<family>.npz`` for ``names`` (default: all) into ``out_dir``; returns the paths."""
    out_dir = out_dir or GOLDEN_DIR
    paths = []
    for name in names or sorted(FAMILIES):
        family = get_family(name)
        path = f"{out_dir}/{name}.npz"
        save_family(path, meta_of(family), golden_cases(family))
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m minidl.conformance.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("families", nargs="*", help="families to regenerate (default: all)")
    parser.add_argument("--out", default=None, help=f"output directory (default {GOLDEN_DIR})")
    args = parser.parse_args(argv)
    for path in generate(args.out, args.families or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
