"""Families and cases of im2col and col2im themselves (issue 16), in PyTorch's ``unfold`` /
``fold`` layout: columns (N, C prod(k), L), channel-major rows.

2-D images only (PyTorch's unfold and fold take nothing else), each geometry chosen to tell a
convention apart: overlapping windows (col2im must sum), stride and padding, dilation, one
axis of each, and non-overlapping windows (where col2im is the inverse of im2col).
"""

import math

from minidl.conformance.family import Case, Family
from minidl.conformance.family import case_rng as _rng
from minidl.functional.windows import window_geometry

# (name, image (N, C, H, W), kernel_size, stride, padding, dilation)
GEOMETRIES = [
    ("overlapping", (2, 3, 4, 5), 2, 1, 0, 1),
    ("stride2_pad1", (2, 2, 5, 5), 3, 2, 1, 1),
    ("dilation2", (1, 2, 5, 6), [2, 3], 1, 0, 2),
    ("anisotropic", (2, 2, 6, 5), [3, 2], [2, 1], [1, 0], [1, 2]),
    ("non_overlapping", (2, 3, 4, 6), 2, 2, 0, 1),
]


def _kwargs(kernel, stride, pad, dilation):
    return {"kernel_size": kernel, "dilation": dilation, "padding": pad, "stride": stride}


def im2col_cases():
    return [
        Case(name, {"x": _rng("im2col", name).normal(size=image)}, _kwargs(*geometry))
        for name, image, *geometry in GEOMETRIES
    ]


def col2im_cases():
    cases = []
    for name, image, kernel, stride, pad, dilation in GEOMETRIES:
        win = window_geometry(image[2:], kernel, stride, pad, dilation)
        shape = (image[0], image[1] * math.prod(win.kernel), math.prod(win.out))
        kwargs = dict(output_size=list(image[2:]), **_kwargs(kernel, stride, pad, dilation))
        cases.append(Case(name, {"x": _rng("col2im", name).normal(size=shape)}, kwargs))
    return cases


WINDOW_KW = ("kernel_size", "dilation", "padding", "stride")


def families():
    """The :class:`Family` records of this module, in the order ``--list`` shows them."""
    return [
        Family(
            "im2col",
            "f(x, kernel_size=, dilation=, padding=, stride=) -> (N, C prod(k), L)",
            keywords=WINDOW_KW,
            grad_wrt=("x",),
            cases=im2col_cases(),
        ),
        Family(
            "col2im",
            "f(x, output_size=, kernel_size=, dilation=, padding=, stride=) -> (N, C, H, W)",
            keywords=("output_size",) + WINDOW_KW,
            grad_wrt=("x",),
            cases=col2im_cases(),
        ),
    ]
