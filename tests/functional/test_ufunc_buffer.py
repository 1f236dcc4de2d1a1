"""NumPy's ufunc buffer around the fast paths' strided loops (minidl.functional._ufunc_buffer):
set inside, given back outside (also after an error), on every thread that runs a loop's item
and on no other; the loops measured to gain run under it (col2im, the batch norm's passes,
ReLU's backward, the depthwise conv); and it changes no bit of their results."""

import numpy as np
import pytest

from minidl.functional import _conv_blocked as blocked
from minidl.functional import _conv_images_inner as inner
from minidl.functional import _conv_wide as wide
from minidl.functional import _threads, _ufunc_buffer, activations, batchnorm
from minidl.functional.activations import relu_backward, relu_forward
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.conv import conv_nd_backward, conv_nd_forward


@pytest.fixture
def own_bufsize():
    """A buffer size of the test's own outside (4096), the one before restored afterwards (by
    hand: np.errstate restores it only from NumPy 2 on)."""
    before = np.setbufsize(4096)
    yield 4096
    np.setbufsize(before)


def test_set_inside_and_given_back(own_bufsize):
    inside = _ufunc_buffer.with_rows_in_place(np.getbufsize)
    assert inside() == _ufunc_buffer.ROW_BUFFER != own_bufsize
    assert np.getbufsize() == own_bufsize

    @_ufunc_buffer.with_rows_in_place
    def failing():
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing()
    assert np.getbufsize() == own_bufsize


def test_items_on_the_workers_each_set_it(own_bufsize, monkeypatch):
    """Two workers: each item sees ROW_BUFFER on its thread; the caller's setting between and
    after is its own, as it is in an unwrapped item."""
    monkeypatch.setattr(_threads, "WORKERS", 2)
    seen = _threads.map_ordered(_ufunc_buffer.with_rows_in_place(lambda i: np.getbufsize()),
                                range(8))  # fmt: skip
    assert seen == [_ufunc_buffer.ROW_BUFFER] * 8
    assert np.getbufsize() == own_bufsize
    assert _threads.map_ordered(lambda i: np.getbufsize(), [0])[0] == own_bufsize


def _record(monkeypatch, owner, name, seen):
    real = getattr(owner, name)

    def recording(*args, **kwargs):
        seen.append(np.getbufsize())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)


def test_the_loops_run_under_it(own_bufsize, rng, monkeypatch):
    """col2im on the wide grid, the batch norm's per-channel sums, ReLU's comparison: each call
    sees ROW_BUFFER (set to a value of this test's own), none the caller's buffer."""
    monkeypatch.setattr(_ufunc_buffer, "ROW_BUFFER", 2048)
    monkeypatch.setattr(wide, "MAX_EXTRA_WORK", 1e9)
    monkeypatch.setattr(blocked, "MIN_WINDOW", 0)
    monkeypatch.setattr(blocked, "FIRST_LAYER_WINDOW", 0)
    monkeypatch.setattr(inner, "applies", lambda *args: False)
    seen = {"col2im": [], "batch norm": [], "relu": []}
    _record(monkeypatch, wide.WideLayout, "add_columns", seen["col2im"])
    _record(monkeypatch, batchnorm, "_dots", seen["batch norm"])
    _record(monkeypatch, activations.np, "greater", seen["relu"])
    x = rng.normal(size=(4, 8, 12, 12)).astype(np.float32)
    y, cache = conv_nd_forward(x, rng.normal(size=(8, 8, 3, 3)).astype(np.float32), padding=1)
    conv_nd_backward(np.ones_like(y), cache)
    y, cache = batch_norm_forward(x)
    batch_norm_backward(np.ones_like(y), cache)
    y, cache = relu_forward(x)
    relu_backward(np.ones_like(y), cache)
    for loop, sizes in seen.items():
        assert sizes and set(sizes) == {2048}, loop
    assert np.getbufsize() == own_bufsize


@pytest.mark.parametrize("stride", [1, 2])  # the depthwise conv's two layouts
def test_the_depthwise_loops_run_under_it(stride, own_bufsize, rng, monkeypatch):
    """Every multiply of a depthwise conv's forward and backward (a kernel offset's run times
    its taps) sees ROW_BUFFER."""
    monkeypatch.setattr(_ufunc_buffer, "ROW_BUFFER", 2048)
    x = rng.normal(size=(4, 8, 12, 12)).astype(np.float32)
    w = rng.normal(size=(8, 1, 3, 3)).astype(np.float32)
    seen = []
    _record(monkeypatch, np, "multiply", seen)
    y, cache = conv_nd_forward(x, w, stride=stride, padding=1, groups=8)
    conv_nd_backward(np.ones_like(y), cache)
    assert len(seen) >= 2 * 9 and set(seen) == {2048}


@pytest.mark.parametrize("groups", [1, 8])  # the wide grid's chunk loop; the depthwise conv
def test_no_bit_changes(groups, rng, monkeypatch):
    """The conv (forward + backward), batch norm and ReLU give the same bits with the row
    buffer and with NumPy's default one: the buffer decides how rows are fed to a loop, not
    what is added to what."""
    x = rng.normal(size=(6, 8, 28, 28)).astype(np.float32)
    w = rng.normal(size=(8, 8 // groups, 3, 3)).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)

    def outputs():
        y, cache = conv_nd_forward(x, w, padding=1, groups=groups)
        grads = conv_nd_backward(dy, cache)
        z, bn = batch_norm_forward(x)
        r, relu = relu_forward(x)
        return [y, grads.dx, grads.dweight, z, *batch_norm_backward(dy, bn)[:1],
                r, relu_backward(dy, relu).dx]  # fmt: skip

    rows = outputs()
    monkeypatch.setattr(_ufunc_buffer, "ROW_BUFFER", 8192)
    for a, b in zip(rows, outputs(), strict=True):
        np.testing.assert_array_equal(a, b)
