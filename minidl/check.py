"""Grade a function against minidl from the command line.

.. code-block:: text

    python -m minidl.check MODULE:FUNCTION --case FAMILY [--adapter SPEC] [--grad | --no-grad]
                           [--backward MODULE:FUNCTION] [--dtype float32] [--rtol R] [--atol A]
                           [--only CASES] [--skip CASES] [--json]

``MODULE`` is an importable module (``torch.nn.functional``) or a path to a ``.py`` file
(``hw3/layers.py``); ``FUNCTION`` may be dotted (``MyConv.forward``). The table of
:func:`minidl.conformance.check.check` is printed (``--json``: the report as JSON); the exit
status is 0 when every case that ran passes, 1 when one fails, 2 for a usage error.
``--only``/``--skip`` take case names or shell patterns, comma-separated or repeated; the cases
left out are listed as ``unsupported`` and not counted. ``--list`` prints the families and the
signature each expects, ``--list --case FAMILY`` that family's cases. Examples::

    python -m minidl.check torch.nn.functional:conv2d --case conv2d --adapter torch+explicit_padding
    python -m minidl.check hw3/layers.py:conv_forward --case conv2d \\
        --backward hw3/layers.py:conv_backward --grad --skip groups2,depthwise
"""

import argparse
import json
import sys

import numpy as np

from minidl.conformance.cases import FAMILIES, get_family
from minidl.conformance.check import check
from minidl.conformance.failures import SPELLING
from minidl.conformance.resolve import resolve


def _families_text():
    width = max(map(len, FAMILIES))
    return "\n".join(f"{n:<{width}}  {f.signature}" for n, f in sorted(FAMILIES.items()))


def _cases_text(name):
    """The cases of one family with their keyword values (for --only / --skip)."""
    family = get_family(name)
    width = max(len(c.name) for c in family.cases)
    lines = [f"{name}: {family.signature}"]
    for c in family.cases:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in c.inputs.items())
        kwargs = ", ".join(f"{k}={v}" for k, v in c.kwargs.items())
        lines.append(f"  {c.name:<{width}}  {shapes}" + (f"; {kwargs}" if kwargs else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m minidl.check",
        description="Run a function on minidl's golden cases and print a pass/fail table.",
    )
    parser.add_argument("function", nargs="?", help="MODULE:FUNCTION (or path/to/file.py:FUNC)")
    parser.add_argument("--case", help="case family, e.g. conv2d (see --list)")
    parser.add_argument(
        "--adapter",
        default="numpy",
        help="numpy (default), torch, nhwc, nhwc_hwio, explicit_padding, joined by '+' "
        "(e.g. torch+explicit_padding)",
    )
    parser.add_argument("--backward", help="MODULE:FUNCTION of backward(dy, cache) (numpy)")
    grads = parser.add_mutually_exclusive_group()
    grads.add_argument("--grad", action="store_true", help="require gradients to be checked")
    grads.add_argument(
        "--no-grad", action="store_true", help="compare the outputs only, even with --backward"
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--rtol", type=float, default=None)
    parser.add_argument("--atol", type=float, default=None)
    parser.add_argument("--golden", default=None, help="directory of golden files")
    parser.add_argument(
        "--only",
        action="append",
        help="run only these cases: names, shell patterns or keywords such as groups, dilation "
        "(the cases using them), comma-separated",
    )
    parser.add_argument(
        "--skip",
        action="append",
        help="leave these cases out (same forms as --only): listed as unsupported",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--list", action="store_true", help="list the families (with --case: its cases) and exit"
    )
    args = parser.parse_args(argv)
    if args.list:
        try:
            print(_cases_text(args.case) if args.case else _families_text())
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if not args.function or not args.case:
        parser.print_usage(sys.stderr)
        print("error: give MODULE:FUNCTION and --case FAMILY (or --list)", file=sys.stderr)
        return 2
    spelling = SPELLING.set("cli")  # messages name --backward, not backward=
    try:
        fn = resolve(args.function)
        backward = resolve(args.backward) if args.backward else None
        report = check(
            fn,
            args.case,
            adapter=args.adapter,
            backward=backward,
            grad=True if args.grad else (False if args.no_grad else None),
            rtol=args.rtol,
            atol=args.atol,
            dtype=None if args.dtype == "float64" else np.float32,
            golden_dir=args.golden,
            only=args.only,
            skip=args.skip,
        )
    except (ValueError, TypeError, ImportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        SPELLING.reset(spelling)
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
