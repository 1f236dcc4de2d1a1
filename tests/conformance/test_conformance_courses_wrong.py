"""The families courses teach (issue 16): deliberately wrong implementations, each with a mistake
those codebases make, fail the cases that can show it, and the diagnosis names the mistake.

Masked dropout, layer and group norm, the activations, dense with flattening, transposed
convolution. Each wrong function is written the way a course's code is (NumPy, the formula
with one slip) or calls minidl with the mistaken argument. The losses and optimizer steps are in
test_conformance_losses_optim_wrong.py; PyTorch passing every case in test_conformance_torch.py.
"""

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.functional import activations as act
from minidl.functional import activations_smooth as smooth
from minidl.functional import conv_transpose_ranks as convt
from minidl.functional import normalization as norm
from minidl.functional.dense import dense_flatten


def _normalize(x, axes, eps, ddof=0, eps_outside=False):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return (x - mean) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))


def _layer_norm(axes_of=None, **slip):
    def layer_norm(x, normalized_shape, weight, bias, eps=1e-5):
        axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
        y = _normalize(x, axes if axes_of is None else axes_of, eps, **slip)
        return y if weight is None else y * weight + bias

    return layer_norm


def _affine(y, weight, bias):
    if weight is None:
        return y
    shape = (1, -1) + (1,) * (y.ndim - 2)
    return y * weight.reshape(shape) + bias.reshape(shape)


def _group_norm(**slip):
    def group_norm(x, num_groups, weight, bias, eps=1e-5):
        groups = x.reshape(x.shape[0], num_groups, -1)  # consecutive channels per group
        return _affine(_normalize(groups, (2,), eps, **slip).reshape(x.shape), weight, bias)

    return group_norm


def _group_norm_strided(x, num_groups, weight, bias, eps=1e-5):
    """(N, C/G, G, ...): the channels of a group are c, c + G, c + 2G..."""
    groups = x.reshape(x.shape[0], x.shape[1] // num_groups, num_groups, -1)
    return _affine(_normalize(groups, (1, 3), eps).reshape(x.shape), weight, bias)


NORM = {"two_groups", "image", "eps_1e-3"}  # group norm cases with 1 < groups < channels
SOFTPLUS_BETA = {"matrix_beta2_t1", "image_beta2_t1", "large_beta2_t1"}
WRONG = [
    # (family, wrong implementation, phrase in the diagnosis, the cases that must fail)
    ("dropout_masked", lambda x, mask, p: x * mask, "does not rescale the kept values", None),
    ("dropout_masked", lambda x, mask, p: x * mask / p, "divides by p, not 1 - p",
     {"image", "p_0.7"}),  # p = 0.5 in 'matrix': the same number
    ("dropout_masked", lambda x, mask, p: x * (1 - mask) / (1 - p), "keeps where the mask is 0",
     None),
    ("layer_norm", lambda x, normalized_shape, weight, bias, eps: norm.layer_norm(
        x, normalized_shape, weight, bias, 1e-3), "uses eps = 0.001, not the eps = 1e-05",
     {"last_axis", "two_axes", "no_affine"}),
    ("layer_norm", _layer_norm(ddof=1), "unbiased variance (ddof=1)", None),
    ("layer_norm", _layer_norm(eps_outside=True), "adds eps outside the square root", None),
    ("layer_norm", _layer_norm(axes_of=(-1,)), "normalizes over the last axis only",
     {"two_axes"}),
    ("group_norm", lambda x, num_groups, weight, bias, eps: norm.group_norm(
        x, num_groups, weight, bias), "uses eps = 1e-05, not the eps = 0.001", {"eps_1e-3"}),
    ("group_norm", _group_norm(ddof=1), "unbiased variance (ddof=1)", None),
    ("group_norm", _group_norm(eps_outside=True), "adds eps outside the square root", None),
    ("group_norm", _group_norm_strided, "groups channels c with the same c mod", NORM),
    ("group_norm", lambda x, num_groups, weight, bias, eps: norm.group_norm(
        x, x.shape[1], weight, bias, eps), "instance norm", NORM | {"one_group"}),
    ("group_norm", lambda x, num_groups, weight, bias, eps: norm.group_norm(
        x, x.shape[1] // num_groups, weight, bias, eps), "reads num_groups as the channels per",
     {"image", "instance", "one_group"}),  # C/G = G in the others
    ("leaky_relu", lambda x, negative_slope: act.leaky_relu(x), "ignores negative_slope",
     {"matrix_slope_0.2", "image_slope_0.2", "large_slope_0.2"}),
    ("leaky_relu", lambda x, negative_slope: np.where(x > 0, negative_slope * x, x),
     "branches swapped", None),
    ("elu", lambda x, alpha: np.where(x > 0, x, alpha * np.exp(np.minimum(x, 0))),
     "without the - 1", None),
    ("elu", lambda x, alpha: smooth.elu(x), "ignores alpha",
     {"matrix_alpha_0.5", "image_alpha_0.5", "large_alpha_0.5"}),
    ("gelu", lambda x, approximate: smooth.gelu(x, "tanh"), "tanh approximation",
     {"matrix", "image", "large"}),
    ("gelu", lambda x, approximate: x / (1 + np.exp(-1.702 * x)), "sigmoid approximation", None),
    ("gelu", lambda x, approximate: smooth.gelu(x), "ignores approximate",
     {"matrix_tanh", "image_tanh"}),  # at |x| ~ 40 both forms are x or 0
    ("softplus", lambda x, beta=1.0, threshold=20.0: np.logaddexp(0, beta * x) / beta,
     "ignores the threshold", SOFTPLUS_BETA),  # where beta x > 20 the two differ by 2e-9
    ("softplus", lambda x, beta=1.0, threshold=20.0: np.where(
        x > threshold, x, np.logaddexp(0, beta * x) / beta), "compares x, not beta x",
     {"matrix_beta2_t1", "image_beta2_t1"}),  # 'large' has no x in (threshold / beta, threshold)
    ("softplus", lambda x, beta=1.0, threshold=20.0: smooth.softplus(x, threshold=threshold),
     "ignores beta", SOFTPLUS_BETA),
    ("dense_flatten", lambda x, weight, bias: dense_flatten(np.moveaxis(x, 1, -1).copy(), weight,
     bias), "flattens channels-last", {"image", "sequence"}),
    ("dense_flatten", lambda x, weight, bias: x.reshape(len(x), -1) @ weight.reshape(
        weight.shape[::-1]) + bias, "no known convention", None),  # a reshape is no transpose
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "wrong", "phrase", "cases"), WRONG, ids=[f"{w[0]}-{w[2][:24]}" for w in WRONG]
)
def test_wrong_convention_is_named(family, wrong, phrase, cases):
    assert_diagnosed(check(wrong, family), phrase, cases)


# ------------------------------------------------------------------ mistakes of the backward
def _with_backward(family, backward_slip):
    """minidl's forward, and a backward ``backward_slip(dy, x, kwargs, minidl's gradients)``."""
    forward, backward = REFERENCE[family]

    def fwd(x, *args, **kwargs):
        y, cache = forward(x, *args, **kwargs)
        return y, (x, kwargs, cache)

    def bwd(dy, saved):
        x, kwargs, cache = saved
        return backward_slip(dy, x, kwargs, backward(dy, cache))

    return fwd, bwd


BACKWARD = [
    ("leaky_relu", lambda dy, x, kw, g: dy * (x > 0), "backward uses ReLU's derivative"),
    ("elu", lambda dy, x, kw, g: dy * np.where(x > 0, 1, kw["alpha"]),
     "backward uses alpha for x <= 0"),
    ("dense_flatten", lambda dy, x, kw, g: (g[0].reshape(len(x), -1),) + tuple(g[1:]),
     "backward returns dx flattened"),
]  # fmt: skip


@pytest.mark.parametrize(("family", "slip", "phrase"), BACKWARD, ids=[b[0] for b in BACKWARD])
def test_wrong_backward_is_named(family, slip, phrase):
    fwd, bwd = _with_backward(family, slip)
    report = check(fwd, family, backward=bwd)
    failing = {r.case for r in report.rows if not r.passed}
    assert failing, report.table()
    for row in report.rows:
        if not row.passed:
            assert row.failed == ("grad x",) and phrase in row.diagnosis, row.diagnosis


def test_layer_norm_with_batch_norm_statistics():
    report = check(_layer_norm(axes_of=(0,)), "layer_norm")
    assert not any(r.passed for r in report.rows)
    for name in ("last_axis", "no_affine"):  # (N, D): each feature over the batch
        assert "batch norm's statistics" in report.row(name).diagnosis


def test_gelu_sigmoid_form_with_its_own_backward():
    def gelu_fwd(x, approximate):
        s = 1 / (1 + np.exp(-1.702 * x))
        return x * s, (x, s)

    def gelu_bwd(dy, cache):
        x, s = cache
        return (dy * (s + 1.702 * x * s * (1 - s)),)

    report = check(gelu_fwd, "gelu", backward=gelu_bwd)
    assert_diagnosed(report, "sigmoid approximation")
    assert all(r.failed == ("y", "grad x") for r in report.rows)


# ------------------------------------------------------------------ transposed convolution
def _convt(**wrong):
    def conv_transpose(x, weight, bias, **kw):
        return convt.conv_transpose2d(x, weight, bias, **dict(kw, **wrong))

    return conv_transpose


CONVT = [
    (lambda x, weight, bias, **kw: convt.conv_transpose2d(x, np.flip(weight, (2, 3)).copy(),
     bias, **kw), "kernel flipped", None),
    (_convt(output_padding=0), "ignores output_padding (acts as 0)",
     {"output_padding", "groups2", "anisotropic"}),
    (_convt(dilation=1), "ignores dilation (acts as 1)", {"dilation2", "anisotropic"}),
    (_convt(padding=0), "ignores padding (acts as 0)",
     {"stride2_pad1", "output_padding", "dilation2", "anisotropic"}),
]  # fmt: skip


@pytest.mark.parametrize(("wrong", "phrase", "cases"), CONVT, ids=[c[1][:20] for c in CONVT])
def test_conv_transpose_mistakes(wrong, phrase, cases):
    assert_diagnosed(check(wrong, "conv_transpose2d"), phrase, cases)


def test_conv_transpose_with_the_convolution_weight_layout():
    def convt_oihw(x, weight, bias, **kw):  # takes weight as (C_out, C_in, kh, kw)
        return convt.conv_transpose2d(x, weight.swapaxes(0, 1).copy(), bias, **kw)

    report = check(convt_oihw, "conv_transpose2d")
    for row in report.rows:
        assert not row.passed
        if row.case == "groups2":  # the other layout needs C_in/groups: no rerun possible
            assert "groups=2" in row.diagnosis
        else:
            assert "takes weight as (C_out, C_in, *k)" in row.diagnosis, row.diagnosis


@pytest.mark.parametrize("family", sorted({w[0] for w in WRONG} | {"conv_transpose2d"}))
def test_minidl_itself_passes_with_no_diagnosis(family):
    forward, backward = REFERENCE[family]
    report = check(forward, family, backward=backward)
    assert report.passed and not any(r.diagnosis for r in report.rows), report.table()
