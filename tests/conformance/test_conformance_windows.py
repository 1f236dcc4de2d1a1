"""im2col and col2im as conformance families (issue 16): a course's own im2col/col2im graded
against PyTorch's unfold/fold layout, and the slips such code makes named.

The wrong versions are written the way course code is: CS231n/the textbook loop over kernel
offsets, ``img[..., y:y_max:s, x:x_max:s] += col[...]``, here with ``=``, or the rows built
offset by offset (kernel-major). PyTorch's unfold/fold pass in test_conformance_torch.py.
"""

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.functional.im2col import col2im, im2col
from minidl.functional.windows import interior, pad_array, window_geometry

OVERLAPPING = {"overlapping", "stride2_pad1", "dilation2", "anisotropic"}  # not non_overlapping


def _geometry(shape, kernel_size, dilation, padding, stride):
    return window_geometry(shape, kernel_size, stride, padding, dilation)


def _textbook_col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1, add=True):
    """The textbook's col2im: one strided slice per kernel offset, ``+=`` (or ``=``)."""
    win = _geometry(tuple(output_size), kernel_size, dilation, padding, stride)
    n, rows, _ = cols.shape
    c = rows // np.prod(win.kernel)
    spatial = tuple(m + lo + hi for m, (lo, hi) in zip(output_size, win.pads, strict=True))
    padded = np.zeros((n, c) + spatial)
    blocks = cols.reshape((n, c, -1) + win.out)
    for q, window in enumerate(win.offsets()):
        if add:
            padded[window] += blocks[:, :, q]
        else:
            padded[window] = blocks[:, :, q]
    return padded[interior(win.pads, tuple(output_size))]


def _kernel_major_im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """Rows built offset by offset, all channels of one offset together: (p, c)."""
    win = _geometry(x.shape[2:], kernel_size, dilation, padding, stride)
    padded = pad_array(x, win.pads)
    rows = [padded[window].reshape(len(x), x.shape[1], -1) for window in win.offsets()]
    return np.concatenate(rows, axis=1)


def _kernel_major_col2im(cols, output_size, kernel_size, **kw):
    n, rows, length = cols.shape
    k = int(np.prod(kernel_size if np.ndim(kernel_size) else [kernel_size] * 2))
    as_channel_major = cols.reshape(n, k, rows // k, length).swapaxes(1, 2).reshape(cols.shape)
    return col2im(as_channel_major, output_size, kernel_size, **kw)


def _averaging_col2im(cols, output_size, kernel_size, **kw):
    """The inverse of im2col where windows cover a position (the sum over the count)."""
    total = col2im(cols, output_size, kernel_size, **kw)
    return total / np.maximum(col2im(np.ones_like(cols), output_size, kernel_size, **kw), 1)


def _minidl_layout_im2col(x, **kw):
    """The (C K, N L) matrix of Windows.columns: one GEMM for the whole batch."""
    cols = im2col(x, **kw)
    return cols.transpose(1, 0, 2).reshape(cols.shape[1], -1)


def test_the_textbook_col2im_passes():
    assert check(_textbook_col2im, "col2im").passed


@pytest.mark.parametrize(
    ("family", "wrong", "phrase", "cases"),
    [
        ("im2col", _kernel_major_im2col, "orders the rows kernel-major", None),
        ("im2col", _minidl_layout_im2col, "minidl's (C K, N L) im2col matrix", None),
        ("col2im", lambda *a, **kw: _textbook_col2im(*a, **kw, add=False),
         "col2im must add (+=)", OVERLAPPING),
        ("col2im", _averaging_col2im, "averages the overlapping windows", OVERLAPPING),
        ("col2im", _kernel_major_col2im, "reads the rows kernel-major", None),
    ],
    ids=["im2col-kernel-major", "im2col-minidl-layout", "col2im-assign", "col2im-average",
         "col2im-kernel-major"],
)  # fmt: skip
def test_wrong_convention_is_named(family, wrong, phrase, cases):
    assert_diagnosed(check(wrong, family), phrase, cases)


def test_im2col_backward_that_overwrites():
    """A course's im2col with its own col2im as the backward: the ``=`` slip shows in grad x."""

    def forward(x, **kw):
        return im2col(x, **kw), (x.shape[2:], kw)

    def backward(dy, cache):
        output_size, kw = cache
        return (_textbook_col2im(dy, output_size, add=False, **kw),)

    report = check(forward, "im2col", backward=backward)
    assert_diagnosed(report, "backward (a col2im) writes each kernel offset's", OVERLAPPING)
    assert all(r.failed == ("grad x",) for r in report.rows if not r.passed)


@pytest.mark.parametrize("family", ["im2col", "col2im"])
def test_minidl_itself_passes_with_no_diagnosis(family):
    forward, backward = REFERENCE[family]
    report = check(forward, family, backward=backward)
    assert report.passed and not any(r.diagnosis for r in report.rows), report.table()
