"""Mistakes found by running the kit on public from-scratch code (deep-learning-from-scratch,
numpy-ml, ML-From-Scratch, two CS231n solutions), each written here in its own few lines on
top of minidl: the diagnosis names it, not a neighbour of it."""

import numpy as np

from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.functional import activations as act
from minidl.functional import conv2d, max_pool2d


def test_backward_of_another_forward_is_said_so():
    """Forward over the axis asked, backward recomputing the softmax over the last axis."""

    def forward(x, axis):
        return act.softmax(x, axis), x

    def last_axis_backward(dy, x):
        return act.softmax_backward(dy, act.softmax_forward(x, -1)[1]).dx

    report = check(forward, "softmax", backward=last_axis_backward)
    row = report.row("channels_3d")
    assert row.failed == ("grad x",)
    assert (
        "forward matches; the backward differentiates another forward: normalizes over axis 2"
        in row.diagnosis
    )


def test_gradients_left_at_zero_empty_or_with_an_extra_axis():
    fwd, bwd = REFERENCE["conv2d"]

    def unfinished(dy, cache):
        dx, dw, db = bwd(dy, cache)
        return np.zeros_like(dx), dw[:, :, 0:-0], db[None, :]  # the [p:-p] crop with p = 0

    report = check(fwd, "conv2d", backward=unfinished)
    row = report.row("basic")
    assert "grad x is all zeros" in row.output("grad x").diagnosis
    assert "empty (a crop x[p:-p] with p = 0" in row.output("grad weight").diagnosis
    assert "with the right values (an extra axis of length 1" in row.output("grad bias").diagnosis


def test_conv_without_groups_that_broadcasts():
    def conv_broadcast(x, weight, bias, stride, padding, dilation, groups):
        if weight.shape[1] != x.shape[1]:  # (C_out, 1, k, k) broadcasts over every channel
            weight = np.broadcast_to(weight, (weight.shape[0], x.shape[1]) + weight.shape[2:])
        return conv2d(x, np.ascontiguousarray(weight), bias, stride, padding, dilation)

    report = check(conv_broadcast, "conv2d")
    assert "ignores groups: every output channel sums over all C_in" in (
        report.row("depthwise").diagnosis
    )


def test_indistinguishable_explanations_are_given_as_alternatives():
    def pool_no_padding(x, kernel_size, stride, padding, ceil_mode):
        return max_pool2d(x, kernel_size, stride, 0, ceil_mode)

    # without the case of padding 2, padding 1 cannot tell "ignores" from "one less"
    report = check(pool_no_padding, "max_pool2d", skip="k4_s2_pad2")
    text = report.row("k3_s2_pad1").diagnosis
    assert "ignores padding" in text and "pads one less" in text
    assert "cannot tell these apart" in text


def test_not_compared_gradients_are_described_in_minidls_layout():
    def pool_nhwc_no_padding(x, kernel_size, stride, padding, ceil_mode):  # x (N, H, W, C)
        y = max_pool2d(np.moveaxis(x, -1, 1), kernel_size, stride, 0, ceil_mode)
        return np.moveaxis(y, 1, -1), None

    report = check(pool_nhwc_no_padding, "max_pool2d", adapter="nhwc", backward=lambda d, c: d)
    text = report.row("k3_s2_pad1").diagnosis
    assert "the forward's y has shape (2, 3, 3, 2), expected (2, 3, 4, 3)" in text
