"""Diagnoses that tell the truth (issue 16): each deliberately wrong implementation below made
an earlier version of the kit say something false or useless. Each output is diagnosed on its
own, an argument the code ignores is not called an off-by-one, a wrong scalar is not "some
factor x the expected", and an exception says where it came from."""

import functools

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.conformance.store import load_family
from minidl.functional import activations as act
from minidl.functional import conv2d, max_pool2d
from minidl.functional.batchnorm import batch_norm, batch_norm_backward, batch_norm_forward
from minidl.nn.losses import CrossEntropyLoss

DILATED = {"dilation2_pad2", "dilation3_stride2", "anisotropic"}


# ------------------------------------------------------------------ ignored, not off by one
def test_conv_that_ignores_dilation():
    def conv_no_dilation(x, weight, bias, stride, padding, dilation, groups):
        return conv2d(x, weight, bias, stride, padding, 1, groups)

    report = check(conv_no_dilation, "conv2d")
    assert_diagnosed(report, "ignores dilation (acts as dilation=1)", DILATED)
    assert all("off by one" not in r.diagnosis for r in report.rows)


def test_max_pool_that_ignores_padding():
    def pool_no_padding(x, kernel_size, stride, padding, ceil_mode):
        return max_pool2d(x, kernel_size, stride, 0, ceil_mode)

    padded = {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"}
    report = check(pool_no_padding, "max_pool2d")
    assert_diagnosed(report, "ignores padding", padded)
    assert all("one less" not in r.diagnosis for r in report.rows)


def test_padding_one_less_is_still_called_so():
    """The case with padding 2 tells the two apart; where padding is 1 both fit, and the
    report keeps the one that explains every case."""

    def pool_pad_less(x, kernel_size, stride, padding, ceil_mode):
        return max_pool2d(x, kernel_size, stride, np.maximum(np.subtract(padding, 1), 0), ceil_mode)

    report = check(pool_pad_less, "max_pool2d")
    padded = {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"}
    assert_diagnosed(report, "pads one less than asked", padded)
    assert all("ignores padding" not in r.diagnosis for r in report.rows)


# ------------------------------------------------------------------ a backward that raises
def _bn_forward_only(x, **kw):
    return batch_norm_forward(x, **kw)


def _bn_backward_raises(dy, cache):
    raise NotImplementedError("backward not written yet")


def test_backward_that_raises_keeps_the_forward_verdict():
    report = check(_bn_forward_only, "batch_norm_train", backward=_bn_backward_raises)
    for row in report.rows:
        assert row.status == "ERROR"
        assert all(o.passed for o in row.outputs)  # y and both running buffers compared
        assert [o.name for o in row.outputs] == ["y", "running_mean", "running_var"]
        assert row.diagnosis.startswith("forward matches; backward raised NotImplementedError")
        assert "test_conformance_truth.py" in row.diagnosis  # where it was raised
        assert "channels-last" not in row.diagnosis  # the 2-D 'dense' case said NHWC
    assert "forward matches; backward raised" in report.table()


def test_backward_that_raises_after_a_wrong_forward():
    def bn_eps(x, eps, **kw):
        return batch_norm_forward(x, eps=0.01, **kw)

    report = check(bn_eps, "batch_norm_train", backward=_bn_backward_raises)
    for row in report.rows:
        assert row.status == "ERROR"
        assert "forward wrong; backward raised NotImplementedError" in row.diagnosis
        assert "uses eps = 0.01" in row.output("y").diagnosis


def test_forward_of_the_wrong_shape_says_gradients_were_not_compared():
    fwd, bwd = REFERENCE["conv2d"]

    def conv_no_padding(x, weight, bias, stride, padding, dilation, groups):
        return fwd(x, weight, bias, stride, 0, dilation, groups)

    report = check(conv_no_padding, "conv2d", backward=bwd)
    row = report.row("stride2_pad1")
    assert "missing" not in row.diagnosis
    expected = (
        "gradients not compared: the forward's y has shape (2, 3, 3, 2), expected (2, 3, 4, 3)"
    )
    assert expected in str(row.gradients) and expected in row.diagnosis
    assert row.failed == ("y",) and "ignores padding" in row.diagnosis
    assert "not compared" in report.table()


# ------------------------------------------------------------------ one output, one diagnosis
def _bn_eps_and_biased_running(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """eps hard-coded to 0.01 (y and the gradients) and the running variance updated with the
    biased batch variance: two mistakes in one function."""
    rm, rv = running_mean.copy(), running_var.copy()
    y, cache = batch_norm_forward(x, weight, bias, rm, rv, training=training, momentum=momentum,
                                  eps=0.01)  # fmt: skip
    axes = (0,) + tuple(range(2, x.ndim))
    running_mean[...] = (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
    running_var[...] = (1 - momentum) * running_var + momentum * x.var(axis=axes)
    return y, cache


def test_each_output_gets_its_own_diagnosis():
    report = check(_bn_eps_and_biased_running, "batch_norm_train", backward=batch_norm_backward)
    for row in report.rows:
        eps = {"dense": 1e-5, "1d": 1e-3, "2d": 1e-5, "3d": 1e-3}[row.case]
        for name in ("y", "grad x", "grad weight"):
            text = row.output(name).diagnosis
            assert f"uses eps = 0.01, not the eps = {eps:g} asked" in text, (name, text)
            assert "biased" not in text
        assert row.output("running_mean").passed and row.output("grad bias").passed
        assert "biased batch variance" in row.output("running_var").diagnosis
        assert "eps" not in row.output("running_var").diagnosis


def test_a_failing_running_buffer_does_not_blame_the_gradients_on_the_forward():
    def bn_keepdims_backward(dy, cache):
        dx, dw, db = batch_norm_backward(dy, cache)
        return dx, dw[None, :], db

    report = check(_bn_eps_and_biased_running, "batch_norm_train", backward=bn_keepdims_backward)
    text = report.row("dense").output("grad weight").diagnosis
    assert "fix it first" in text  # y is wrong here (eps): the forward is to be fixed first

    def bn_biased_only(x, weight, bias, running_mean, running_var, training, momentum, eps):
        y, cache = batch_norm_forward(x, weight, bias, running_mean.copy(), running_var.copy(),
                                      momentum=momentum, eps=eps)  # fmt: skip
        axes = (0,) + tuple(range(2, x.ndim))
        running_mean[...] = (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
        running_var[...] = (1 - momentum) * running_var + momentum * x.var(axis=axes)
        return y, cache

    report = check(bn_biased_only, "batch_norm_train", backward=bn_keepdims_backward)
    text = report.row("dense").output("grad weight").diagnosis
    assert text.startswith("forward matches; gradient wrong") and "fix it first" not in text


def test_table_shows_each_output_and_the_tested_ratio():
    report = check(_bn_eps_and_biased_running, "batch_norm_train", backward=batch_norm_backward)
    row = report.row("2d")
    case = next(c for c in load_family("batch_norm_train")[1] if c.name == "2d")
    got, _ = _bn_eps_and_biased_running(**{k: v.copy() for k, v in case.inputs.items()},
                                        **case.kwargs)  # fmt: skip
    err = np.abs(got - case.outputs["y"])
    ratio = np.max(err / (report.atol + report.rtol * np.abs(case.outputs["y"])))
    assert row.output("y").max_abs == pytest.approx(err.max(), rel=1e-12)
    assert row.output("y").ratio == pytest.approx(ratio, rel=1e-12)
    # each output has its own errors: y's are not the running variance's, and the running
    # mean passes whatever the others do
    assert row.output("running_var").max_abs != row.output("y").max_abs
    assert row.output("running_mean").ratio <= 1 < row.output("y").ratio
    lines = [line for line in report.table().splitlines() if line.split()[:1] == ["2d"]]
    assert lines and "y" in lines[0].split()
    assert "ratio = largest |a - e| / (atol + rtol*|e|)" in report.table()


def test_hypotheses_are_matched_looser_than_pass_fail():
    """A label-smoothing slip computed with a little rounding of its own (1e-6 relative):
    it fails at rtol 1e-7 and is still recognized."""

    def ce_no_smoothing_rounded(logits, target, label_smoothing=0.0):
        return CrossEntropyLoss()(logits, target) * (1 + 1e-6)

    report = check(ce_no_smoothing_rounded, "cross_entropy")
    assert "ignores label_smoothing" in report.row("smoothing").diagnosis


# ------------------------------------------------------------------ the missing hypotheses
def _bn_momentum_variant(x, weight, bias, running_mean, running_var, training, momentum, eps,
                         weight_new, biased):  # fmt: skip
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = batch_norm(x, weight, bias, mean, var, training=False, eps=eps)
    w = weight_new(momentum)
    running_mean[...] = (1 - w) * running_mean + w * mean
    running_var[...] = (1 - w) * running_var + w * (var if biased else var * n / (n - 1))
    return y


@pytest.mark.parametrize(
    ("weight_new", "biased", "phrase"),
    [
        (lambda m: 1 - m, True, "Keras' convention); here it weighs the new batch statistic: "
         "r <- (1 - m) r + m s, and the running variance takes the biased"),
        (lambda m: 1 - m, False, "Keras' convention"),
        (lambda m: 0.01, True, "weight 0.01, not the momentum"),  # Keras' 0.99, hard-coded
    ],
)  # fmt: skip
def test_momentum_conventions(weight_new, biased, phrase):
    fn = functools.partial(_bn_momentum_variant, weight_new=weight_new, biased=biased)
    report = check(fn, "batch_norm_train")
    assert_diagnosed(report, phrase)
    for row in report.rows:
        assert "y" not in row.failed


def test_running_statistics_rebound_instead_of_updated_in_place():
    def bn_rebinds(x, weight, bias, running_mean, running_var, training, momentum, eps):
        axes = (0,) + tuple(range(2, x.ndim))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        running_mean = (1 - momentum) * running_mean + momentum * mean  # a new array
        running_var = (1 - momentum) * running_var + momentum * var  # noqa: F841
        return batch_norm(x, weight, bias, mean, var, training=False, eps=eps)

    assert_diagnosed(check(bn_rebinds, "batch_norm_train"), "came back unchanged: rebound")


@pytest.mark.parametrize("hard_coded", [1e-6, 1e-8, 0.0])
def test_eps_hard_coded_is_found(hard_coded):
    fwd, bwd = REFERENCE["batch_norm_eval"]

    def bn_eps(x, eps, **kw):
        return fwd(x, eps=hard_coded, **kw)

    report = check(bn_eps, "batch_norm_eval", backward=bwd)
    assert len(report.failures) == 4  # 1e-5 and 1e-3 asked: every case differs
    for row in report.failures:
        for name in ("y", "grad x", "grad weight"):
            assert f"uses eps = {hard_coded:g}, not the eps" in row.output(name).diagnosis


def test_max_pool_padded_with_zeros():
    fwd, bwd = REFERENCE["max_pool2d"]

    def pool_zero_pad(x, kernel_size, stride, padding, ceil_mode):
        p = np.broadcast_to(padding, 2)
        xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))  # zeros, not -inf
        y, cache = fwd(xp, kernel_size, stride, 0, ceil_mode)
        return y, (cache, p)

    def pool_zero_pad_backward(dy, cache):
        cache, p = cache
        (dx,) = bwd(dy, cache)
        return (dx[:, :, p[0] : dx.shape[2] - p[0], p[1] : dx.shape[3] - p[1]],)

    report = check(pool_zero_pad, "max_pool2d", backward=pool_zero_pad_backward)
    failing = {r.case for r in report.failures}
    assert failing and failing <= {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"}
    for row in report.failures:
        for o in row.outputs:
            if not o.passed:
                assert "pads with zeros before taking the maximum" in o.diagnosis, o


def test_softmax_backward_with_the_diagonal_of_the_jacobian():
    def forward(x, axis):
        y = act.softmax(x, axis)
        return y, y

    report = check(forward, "softmax", backward=lambda dy, y: dy * y * (1 - y))
    assert report.row("large").passed  # p is 0 or 1 there: the diagonal is all there is
    for row in report.failures:
        assert row.failed == ("grad x",)
        assert "only the diagonal of the Jacobian (dy p (1 - p))" in row.diagnosis


def test_same_padding_that_ignores_the_stride():
    def conv_same_stride_one(x, weight, bias, stride, padding, dilation, groups):
        if padding == "same":  # symmetric (k - 1) / 2 padding, right only for stride 1
            k = np.array(weight.shape[2:])
            pads = [((kk - 1) // 2, kk - 1 - (kk - 1) // 2) for kk in k]
            x = np.pad(x, ((0, 0), (0, 0), *pads))
            padding = 0
        return conv2d(x, weight, bias, stride, padding, dilation, groups)

    report = check(conv_same_stride_one, "conv2d")
    assert_diagnosed(report, "computed as for stride 1", {"same_stride2_tf"})


def test_eval_backward_with_batch_statistics():
    def bn_eval(x, weight, bias, running_mean, running_var, training, momentum, eps):
        y = batch_norm(x, weight, bias, running_mean, running_var, training=False, eps=eps)
        return y, (x, weight, eps)

    def bn_backward_training_formula(dy, cache):
        x, weight, eps = cache
        _, train_cache = batch_norm_forward(x, weight, np.zeros_like(weight), eps=eps)
        return batch_norm_backward(dy, train_cache)

    report = check(bn_eval, "batch_norm_eval", backward=bn_backward_training_formula)
    for row in report.rows:
        assert "y" not in row.failed and "grad x" in row.failed
        assert "evaluation-mode backward uses the batch statistics" in row.diagnosis


def test_cross_entropy_of_log_p_plus_delta():
    def ce_delta(logits, target, label_smoothing=0.0):
        p = act.softmax(logits, 1)
        return -np.mean(np.log(p[np.arange(len(target)), target] + 1e-7))

    report = check(ce_delta, "cross_entropy")
    assert "computes log(p + 1e-07)" in report.row("large").diagnosis


def test_cross_entropy_of_an_underflowed_probability():
    def ce_log_p(logits, target, label_smoothing=0.0):
        p = act.softmax(logits, 1)
        with np.errstate(divide="ignore"):
            return -np.mean(np.log(p[np.arange(len(target)), target]))

    report = check(ce_log_p, "cross_entropy")
    assert "log(0) = -inf" in report.row("large").diagnosis


# ------------------------------------------------------------------ hints and locations
def test_no_explicit_padding_hint_when_that_adapter_is_in_use():
    def conv_fails(x, weight, bias, **kw):
        raise ValueError("not today")

    report = check(conv_fails, "conv2d", adapter="explicit_padding")
    assert all("use the explicit_padding adapter" not in r.diagnosis for r in report.rows)
    report = check(conv_fails, "conv2d")
    assert "use the explicit_padding adapter" in report.row("same_stride1").diagnosis


def test_torch_function_without_the_torch_adapter_gets_the_hint_on_every_row():
    torch = pytest.importorskip("torch")
    report = check(torch.nn.functional.conv2d, "conv2d")
    assert all("use adapter='torch'" in r.diagnosis for r in report.rows)


def test_error_row_gives_file_line_and_source():
    def conv_asserts(x, weight, bias, **kw):
        assert x.shape[1] == 99
        return conv2d(x, weight, bias, **kw)

    row = check(conv_asserts, "conv2d").row("basic")
    assert row.status == "ERROR" and "AssertionError" in row.diagnosis
    assert "test_conformance_truth.py:" in row.diagnosis and "in conv_asserts" in row.diagnosis
    assert "assert x.shape[1] == 99" in row.diagnosis


def test_error_inside_numpy_points_at_the_candidates_line():
    def dense_bad(x, weight, bias):
        return np.dot(x, weight) + (0 if bias is None else bias)  # (N, in) @ (out, in)

    row = check(dense_bad, "dense").row("basic")
    assert "in dense_bad: return np.dot(x, weight)" in row.diagnosis
    assert "(in_features, out_features)" in row.diagnosis  # the rerun explains it


def test_numpy_dispatch_frames_are_not_the_candidates():
    # NumPy < 1.25 calls np.dot & co. through a frame named "<__array_function__ internals>";
    # the diagnosis must skip it and name the candidate's own line (the test above).
    from minidl.conformance.failures import _is_library

    assert _is_library("<__array_function__ internals>")
    assert not _is_library(__file__)
