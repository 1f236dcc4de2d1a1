"""Deliberately wrong implementations fail the right cases with the right diagnosis.

Each wrong implementation calls minidl (or NumPy) with one convention broken, the way a
student's code would break it: the kernel flipped, channels-last input, the unbiased
variance, padding one less, a 0-based dilation, a transposed dense weight, the wrong softmax
axis... The PyTorch versions are in test_conformance_torch.py.
"""

import functools

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.compression.pruning import mask_from_scores
from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.conformance.store import load_family
from minidl.decomposition import PCA
from minidl.functional import activations as act
from minidl.functional.batchnorm import batch_norm, batch_norm_backward, batch_norm_forward
from minidl.functional.conv import conv_nd_backward, conv_nd_forward
from minidl.functional.conv_ranks import conv2d
from minidl.functional.dense import dense
from minidl.functional.pool_ranks import avg_pool2d, max_pool2d
from minidl.functional.windows import pad_array, resolve_padding
from minidl.linear_model.lasso import Lasso
from minidl.linear_model.linear import Ridge
from minidl.nn.losses import CrossEntropyLoss


def _conv2d_fwd(x, weight, bias, stride, padding, dilation, groups):
    return conv2d(x, weight, bias, stride, padding, dilation, groups)


def test_flipped_kernel_is_a_true_convolution():
    def conv_true(x, weight, bias, **kw):
        return conv2d(x, np.flip(weight, (2, 3)).copy(), bias, **kw)

    report = check(conv_true, "conv2d")
    assert_diagnosed(report, "kernel flipped")
    assert not report.passed and "kernel flipped" in report.table()


def test_channels_last_input():
    def conv_nhwc(x, weight, bias, **kw):  # takes (N, H, W, C), returns (N, H', W', C_out)
        return np.moveaxis(conv2d(np.moveaxis(x, -1, 1), weight, bias, **kw), 1, -1)

    report = check(conv_nhwc, "conv2d")
    assert_diagnosed(report, "channels-last")
    assert {r.status for r in report.rows} <= {"ERROR", "FAIL"}
    # with the adapter that says so, the same function passes
    assert check(conv_nhwc, "conv2d", adapter="nhwc").passed


def test_channels_last_with_tensorflow_weight_layout():
    def conv_tf(x, weight, bias, **kw):  # x (N, H, W, C), weight (kh, kw, C_in, C_out)
        w = weight.transpose(3, 2, 0, 1)
        return np.moveaxis(conv2d(np.moveaxis(x, -1, 1), w.copy(), bias, **kw), 1, -1)

    assert_diagnosed(check(conv_tf, "conv2d"), "(*kernel, C_in, C_out)")
    assert check(conv_tf, "conv2d", adapter="nhwc_hwio").passed


def test_padding_one_less():
    def conv_pad_less(x, weight, bias, padding, **kw):
        if not isinstance(padding, str):
            padding = tuple(max(p - 1, 0) for p in np.broadcast_to(padding, (2,)))
        return conv2d(x, weight, bias, padding=padding, **kw)

    padded = {"stride2_pad1", "dilation2_pad2", "dilation3_stride2", "groups2", "depthwise"}
    assert_diagnosed(check(conv_pad_less, "conv2d"), "padding - 1", padded | {"anisotropic"})


def test_same_padding_extra_zero_at_the_start():
    def conv_same_front(x, weight, bias, stride, padding, dilation, groups):
        if padding == "same":  # the odd extra zero goes first (not TensorFlow's rule)
            pads = resolve_padding("same", x.shape[2:], weight.shape[2:], (stride,) * 2, (1, 1))
            x, padding = pad_array(x, tuple((hi, lo) for lo, hi in pads)), 0
        return conv2d(x, weight, bias, stride, padding, dilation, groups)

    report = check(conv_same_front, "conv2d")
    # only SAME cases with an odd total padding can tell: stride 2, and the even kernel
    assert_diagnosed(report, "extra zero at the start", {"same_stride2_tf", "same_even_kernel"})


def test_zero_based_dilation_plus_and_minus_one():
    def conv_dil_plus(x, weight, bias, dilation, **kw):
        return conv2d(x, weight, bias, dilation=np.add(dilation, 1).tolist(), **kw)

    report = check(conv_dil_plus, "conv2d")
    # every case fails; the diagnosis names the dilation wherever the output still fits
    fits = {r.case for r in report.rows if r.status == "FAIL"}
    assert len(fits) >= 9
    assert_diagnosed(report, "acts as dilation d + 1", fits | {r.case for r in report.failures})

    def conv_dil_minus(x, weight, bias, dilation, **kw):
        return conv2d(x, weight, bias, dilation=np.subtract(dilation, 1).tolist(), **kw)

    report = check(conv_dil_minus, "conv2d")
    for name in ("dilation2_pad2", "dilation3_stride2"):
        assert "acts as dilation d - 1" in report.row(name).diagnosis
    assert report.row("basic").status == "ERROR"  # dilation 0 is refused


def test_gradient_only_mistake_is_reported_with_its_factor():
    fwd, bwd = REFERENCE["conv2d"]

    def bwd_mean(dy, cache):  # weight gradient averaged over the batch instead of summed
        dx, dw, db = bwd(dy, cache)
        return dx, dw / dy.shape[0], db

    report = check(fwd, "conv2d", backward=bwd_mean)
    for row in report.rows:
        assert row.failed == ("grad weight",)
        assert "forward matches; gradient wrong" in row.diagnosis
        assert "0.5 x the expected" in row.diagnosis


def _bn(x, weight, bias, running_mean, running_var, training, momentum, eps, ddof):
    """Batch norm that updates the running estimates as minidl does but normalizes with a
    variance of the given ddof (minidl's evaluation mode with the batch statistics)."""
    batch_norm(x, weight, bias, running_mean, running_var, training=True, momentum=momentum)
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=ddof)
    return batch_norm(x, weight, bias, mean, var, training=False, eps=eps)


def test_unbiased_variance_in_batch_norm():
    assert check(functools.partial(_bn, ddof=0), "batch_norm_train").passed  # the control
    report = check(functools.partial(_bn, ddof=1), "batch_norm_train")
    assert_diagnosed(report, "unbiased variance (ddof=1)")
    assert all(r.failed == ("y",) for r in report.rows)


def test_biased_running_variance():
    def bn_biased_running(x, weight, bias, running_mean, running_var, training, momentum, eps):
        n = x.size // x.shape[1]
        y = batch_norm(x, weight, bias, running_mean, running_var, training=True, eps=eps,
                       momentum=momentum)  # fmt: skip
        running_var -= momentum * x.var(axis=(0,) + tuple(range(2, x.ndim))) / (n - 1)
        return y

    report = check(bn_biased_running, "batch_norm_train")
    assert_diagnosed(report, "biased batch variance")
    assert all(r.failed == ("running_var",) for r in report.rows)


def test_batch_statistics_in_evaluation():
    fwd, bwd = REFERENCE["batch_norm_eval"]

    def bn_batch_stats(x, training, **kw):  # ignores training=False
        return fwd(x, training=True, **kw)

    report = check(bn_batch_stats, "batch_norm_eval", backward=bwd)
    assert_diagnosed(report, "batch statistics in evaluation mode")
    assert "updates the running estimates in evaluation mode" in report.rows[0].diagnosis


def test_transposed_dense_weight():
    def dense_xw(x, weight, bias):  # weight taken as (in_features, out_features)
        y = x @ weight
        return y if bias is None else y + bias

    report = check(dense_xw, "dense")
    assert_diagnosed(report, "(in_features, out_features)")
    assert check(lambda x, weight, bias: dense(x, weight, bias), "dense").passed


def test_softmax_over_the_last_axis():
    report = check(lambda x, axis: act.softmax(x, -1), "softmax")
    assert_diagnosed(report, "normalizes over axis", {"channels_3d", "channels_4d"})
    assert "over axis 2 instead of axis 1" in report.row("channels_3d").diagnosis
    assert "over axis 3 instead of axis 1" in report.row("channels_4d").diagnosis


def test_naive_softmax_overflows_on_large_logits():
    def naive(x, axis):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            return e / e.sum(axis=axis, keepdims=True)

    report = check(naive, "softmax")
    assert_diagnosed(report, "NaN/inf", {"large"})


def test_cross_entropy_summed_instead_of_mean():
    def ce_sum(logits, target, **kw):
        return CrossEntropyLoss(**kw)(logits, target) * len(target)

    report = check(ce_sum, "cross_entropy")
    for row, case in zip(report.rows, load_family("cross_entropy")[1], strict=True):
        n = len(case.inputs["target"])
        assert f"sums over the batch instead of averaging (N = {n:g}" in row.diagnosis


def test_a_wrong_scalar_is_not_called_a_constant_factor():
    """Any wrong loss is some multiple of the right one: a fitted factor says nothing."""

    def ce_plus(logits, target, **kw):
        return CrossEntropyLoss(**kw)(logits, target) + 0.1

    report = check(ce_plus, "cross_entropy")
    assert not report.passed
    for row in report.rows:
        assert "x the expected" not in row.diagnosis, row.diagnosis
        assert "no known convention" in row.diagnosis


def test_avg_pool_without_padding_in_the_divisor():
    def avg_exclude(x, kernel_size, stride, padding, ceil_mode):
        ones = np.ones_like(x)
        kw = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
        return avg_pool2d(x, ceil_mode=ceil_mode, **kw) / avg_pool2d(
            ones, ceil_mode=ceil_mode, **kw
        )

    report = check(avg_exclude, "avg_pool2d")
    assert_diagnosed(
        report, "count_include_pad=False", {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"}
    )


def test_quantize_rounding_half_away_from_zero():
    def q_half_away(x, scale, zero_point, bits=8, signed=True):
        lo, hi = (-128, 127) if signed else (0, 255)
        v = x / scale
        return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point, lo, hi)

    assert_diagnosed(check(q_half_away, "quantize"), "half away from zero", {"ties"})


def test_lasso_without_the_1_over_n():
    class LassoUnscaled(Lasso):  # minimizes 1/2 ||y - Xw||^2 + alpha ||w||_1
        def fit(self, X, y):
            self.alpha = self.alpha / len(X)
            return super().fit(X, y)

    assert_diagnosed(check(LassoUnscaled, "lasso"), "alpha divided by n")


def test_pca_components_as_columns():
    class PCAColumns(PCA):
        def fit(self, X, y=None):
            super().fit(X)
            self.components_ = self.components_.T
            return self

    report = check(PCAColumns, "pca")
    failing = {r.case for r in report.rows if r.failed}
    assert failing and failing == {r.case for r in report.failures}
    assert_diagnosed(report, "components as columns", failing)


def test_magnitude_mask_by_signed_value():
    report = check(lambda w, sparsity: mask_from_scores(w, sparsity), "magnitude_mask")
    assert_diagnosed(report, "signed value", {"matrix_half", "conv_weight", "most"})


def test_minidl_conv_backward_through_the_numpy_adapter_passes():
    assert check(conv_nd_forward, "conv3d", backward=conv_nd_backward).passed
    assert check(batch_norm_forward, "batch_norm_train", backward=batch_norm_backward).passed


@pytest.mark.parametrize("bad", ["stride", "padding"])
def test_keyword_names_are_part_of_the_signature(bad):
    def renamed(x, weight, bias, **kw):
        kw["strides" if bad == "stride" else "pad"] = kw.pop(bad)
        return conv2d(x, weight, bias, **kw)

    report = check(renamed, "conv2d")
    assert all(r.status == "ERROR" and "TypeError" in r.diagnosis for r in report.rows)


# ------------------------------------------------------------------ the remaining hypotheses
def _bn_running_in_training(x, weight, bias, running_mean, running_var, training, momentum, eps):
    rm, rv = running_mean.copy(), running_var.copy()
    batch_norm(x, weight, bias, running_mean, running_var, training=True, momentum=momentum)
    return batch_norm(x, weight, bias, rm, rv, training=False, eps=eps)


def _bn_keras_momentum(x, weight, bias, running_mean, running_var, training, momentum, eps):
    return batch_norm(
        x, weight, bias, running_mean, running_var, training=True, momentum=1 - momentum, eps=eps
    )


class _RidgeTimesN(Ridge):  # minimizes (1/n) ||y - Xw||^2 + alpha ||w||^2
    def fit(self, X, y):
        self.alpha = self.alpha * len(X)
        return super().fit(X, y)


class _RidgeAlwaysIntercept(Ridge):
    def __init__(self, alpha=1.0, fit_intercept=True):
        super().__init__(alpha)


def _q_floor(x, scale, zero_point, bits=8, signed=True):
    lo, hi = (-128, 127) if signed else (0, 255)
    return np.clip(np.floor(x / scale) + zero_point, lo, hi)


def _q_no_clamp(x, scale, zero_point, bits=8, signed=True):
    return np.rint(x / scale) + zero_point


def _ce_no_smoothing(logits, target, label_smoothing=0.0):
    return CrossEntropyLoss()(logits, target)


WRONG = [
    # (family, wrong implementation, phrase in the diagnosis, the cases that must fail)
    (
        "max_pool2d",
        lambda x, padding, **kw: max_pool2d(
            x, padding=np.maximum(np.subtract(padding, 1), 0), **kw
        ),
        "padding - 1",
        {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"},
    ),
    (
        "avg_pool2d",
        lambda x, ceil_mode, **kw: avg_pool2d(x, ceil_mode=False, **kw),
        "ceil_mode=False, asked True",
        {"ceil_mode"},
    ),
    ("batch_norm_train", _bn_running_in_training, "running estimates in training mode", None),
    ("batch_norm_train", _bn_keras_momentum, "Keras' convention", None),
    ("ridge", _RidgeTimesN, "alpha scaled by n", None),
    (
        "ridge",
        _RidgeAlwaysIntercept,
        "fit_intercept=True behaviour (asked False)",
        {"no_intercept"},
    ),
    ("quantize", _q_floor, "rounds down (floor)", None),
    ("quantize", _q_no_clamp, "does not clamp", {"int8", "saturate"}),
    (
        "dequantize",
        lambda q, scale, zero_point: scale * q.astype(np.float64),
        "ignores the zero point",
        None,
    ),
    (
        "magnitude_mask",
        lambda w, sparsity: mask_from_scores(-np.abs(w), sparsity),
        "removes the largest |w|",
        {"matrix_half", "conv_weight", "most"},
    ),
    ("cross_entropy", _ce_no_smoothing, "ignores label_smoothing", {"smoothing"}),
]


@pytest.mark.parametrize(
    ("family", "wrong", "phrase", "cases"), WRONG, ids=[f"{w[0]}-{w[2][:20]}" for w in WRONG]
)
def test_more_wrong_conventions(family, wrong, phrase, cases):
    assert_diagnosed(check(wrong, family), phrase, cases)
