"""The check() API: minidl passes every case, the report and its table, tolerances, dtypes,
adapters without torch, and bad arguments."""

import numpy as np
import pytest

from minidl.conformance.adapters import build, channels_last, explicit_padding, numpy_adapter
from minidl.conformance.cases import FAMILIES, get_family
from minidl.conformance.check import Report, check, compare
from minidl.conformance.reference import REFERENCE
from minidl.functional.activations import relu
from minidl.functional.conv_ranks import conv1d, conv2d
from minidl.functional.pool_ranks import max_pool2d


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_minidl_passes_every_case(name):
    forward, backward = REFERENCE[name]
    report = check(forward, name, backward=backward)
    assert report.passed, report.table()
    assert report.gradients == bool(get_family(name).grad_wrt)
    assert len(report.rows) == len(FAMILIES[name].cases)


def test_table_lists_every_case_with_errors_tolerance_and_result():
    report = check(relu, "relu")
    text = str(report)
    assert text.splitlines()[0].startswith("relu: f(x) -> y  [adapter numpy; outputs only")
    for case in FAMILIES["relu"].cases:
        assert case.name in text
    assert "(rtol=1e-07, atol=1e-09)" in text and "3/3 cases pass" in text
    assert isinstance(report, Report) and report.failures == []


def test_a_wrong_value_fails_and_a_tiny_one_passes():
    def relu_off(x):
        return relu(x) + 1e-3

    def relu_ulp(x):
        return relu(x) * (1 + 1e-12)

    bad = check(relu_off, "relu")
    assert not bad.passed and all(r.status == "FAIL" for r in bad.rows)
    assert bad.rows[0].max_abs == pytest.approx(1e-3)
    assert check(relu_ulp, "relu").passed
    # the caller's tolerance wins
    assert check(relu_off, "relu", atol=2e-3).passed


def test_float32_candidates_get_float32_tolerances():
    def conv32(x, weight, bias, **kw):
        assert x.dtype == np.float32 and weight.dtype == np.float32
        return conv2d(x, weight, bias, **kw)

    report = check(conv32, "conv2d", dtype=np.float32)
    assert report.passed, report.table()
    assert report.rows[0].rtol == 1e-4 and report.rows[0].atol == 1e-5
    # float32 results are far from the float64 tolerance
    assert not check(conv32, "conv2d", dtype=np.float32, rtol=1e-7, atol=1e-9).passed


def test_grad_true_needs_a_way_to_differentiate():
    with pytest.raises(ValueError, match="backward="):
        check(relu, "relu", grad=True)
    fwd, bwd = REFERENCE["relu"]
    assert check(fwd, "relu", backward=bwd, grad=False).gradients is False


def test_bad_family_and_adapter_names():
    with pytest.raises(ValueError, match="case family must be one of"):
        check(relu, "conv4d")
    with pytest.raises(ValueError, match="adapter must be"):
        check(relu, "relu", adapter="numpy+upside_down")
    with pytest.raises(TypeError, match="adapter must be None, a string or a callable"):
        check(relu, "relu", adapter=3)
    with pytest.raises(ValueError, match="channel axis"):
        check(relu, "relu", adapter="nhwc")


def test_returning_a_cache_without_backward_is_an_error_row():
    fwd, _ = REFERENCE["relu"]  # returns (y, x)
    report = check(fwd, "relu")
    assert all(r.status == "ERROR" and "backward=" in r.diagnosis for r in report.rows)


def test_compare_rules():
    e = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert compare(e, e, 0, 0) == (0.0, 0.0, True)
    assert compare(e, e[:1], 1, 1)[2] is False  # shape
    assert compare(e, None, 1, 1)[2] is False
    assert compare(e, np.full_like(e, np.nan), 1, 1)[2] is False
    flipped = e * np.array([[-1.0], [1.0]])
    assert compare(e, flipped, 1e-12, 0)[2] is False
    assert compare(e, flipped, 1e-12, 0, up_to_sign=True)[2] is True


def test_callable_adapter_and_composed_wrappers_with_numpy():
    family = get_family("conv1d")
    fwd, bwd = REFERENCE["conv1d"]

    def nlc_conv(x, weight, bias, **kw):  # channels-last 1-D convolution, integer padding only
        assert isinstance(kw["padding"], int)
        y, cache = fwd(np.moveaxis(x, -1, 1), weight, bias, **kw)
        return np.moveaxis(y, 1, -1), cache

    def nlc_backward(dy, cache):
        dx, dw, db = bwd(np.moveaxis(dy, -1, 1), cache)
        return np.moveaxis(dx, 1, -1), dw, db

    report = check(nlc_conv, "conv1d", adapter="nhwc+explicit_padding", backward=nlc_backward)
    assert report.passed and report.gradients, report.table()

    def mine(fn, fam):  # a hand-made composition, as a callable adapter
        return explicit_padding(channels_last(numpy_adapter(fn, fam, nlc_backward), fam), fam)

    assert check(nlc_conv, family, adapter=mine).passed
    assert build(None, conv1d, family).can_grad is False


def test_pool_nhwc_adapter_with_numpy():
    def pool_nhwc(x, **kw):
        return np.moveaxis(max_pool2d(np.moveaxis(x, -1, 1), **kw), 1, -1)

    assert check(pool_nhwc, "max_pool2d", adapter="nhwc").passed
    report = check(pool_nhwc, "max_pool2d")
    assert not report.passed
    assert all("channels-last" in r.diagnosis for r in report.failures)


def test_bad_tolerance_dtype_and_fn():
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        check(relu, "relu", rtol=-1)
    with pytest.raises(ValueError, match="atol"):
        check(relu, "relu", atol=float("nan"))
    with pytest.raises(TypeError, match="dtype must be None, float32 or float64"):
        check(relu, "relu", dtype=np.float16)
    with pytest.raises(TypeError, match="fn must be a function"):
        check({"not": "callable"}, "relu")


def test_a_torch_function_without_the_torch_adapter_gets_a_hint():
    torch = pytest.importorskip("torch")
    report = check(torch.relu, "relu")
    assert all("use adapter='torch'" in r.diagnosis for r in report.rows)


def test_generate_command_writes_the_named_families(tmp_path, capsys):
    from minidl.conformance.generate import main

    assert main(["--out", str(tmp_path), "relu", "pca"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca.npz", "relu.npz"]
    assert "relu.npz" in capsys.readouterr().out
    assert check(relu, "relu", golden_dir=tmp_path).passed
