"""Control: case selection and the unsupported status, the report as repr / assertion / JSON,
the command line's --no-grad, --only, --skip, --json and its own flag names, and the pytest
helper (one line per function, one test per case)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minidl.check import main
from minidl.conformance.check import check
from minidl.conformance.reference import REFERENCE
from minidl.functional import conv2d
from minidl.functional.activations import relu


def _conv_without_groups(x, weight, bias, stride, padding, dilation, groups):
    if groups != 1:
        raise NotImplementedError("groups")
    return conv2d(x, weight, bias, stride, padding, dilation)


def test_skip_gives_a_green_run_and_lists_the_unsupported_cases():
    assert not check(_conv_without_groups, "conv2d").passed
    report = check(_conv_without_groups, "conv2d", skip="groups")
    assert report.passed, report.table()
    unsupported = [r.case for r in report.rows if r.status == "unsupported"]
    assert unsupported == ["groups2", "depthwise"]
    assert "10/10 cases pass; 2 unsupported, not run: groups2, depthwise" in report.table()


def test_only_and_patterns():
    report = check(_conv_without_groups, "conv2d", only=["same*", "valid"])
    assert [r.case for r in report.checked] == [
        "same_stride1",
        "same_stride2_tf",
        "same_even_kernel",
        "valid",
    ]
    assert report.passed
    both = check(_conv_without_groups, "conv2d", only="same*", skip="same_even_kernel")
    assert [r.case for r in both.checked] == ["same_stride1", "same_stride2_tf"]
    with pytest.raises(ValueError, match="'dilaton' matches no case of conv2d; its cases are"):
        check(_conv_without_groups, "conv2d", skip="dilaton")
    with pytest.raises(TypeError, match="skip must be a case name"):
        check(relu, "relu", skip=3)
    # nothing left to run is not a pass
    assert not check(relu, "relu", skip="*").passed


def test_report_repr_and_assert_passed():
    good, bad = check(relu, "relu"), check(lambda x: relu(x) + 1, "relu")
    assert repr(good) == str(good) == good.table()
    good.assert_passed()
    with pytest.raises(AssertionError) as info:
        bad.assert_passed()
    assert "0/3 cases pass" in str(info.value) and "matrix" in str(info.value)


def test_as_dict_is_json_with_every_output():
    fwd, bwd = REFERENCE["dense"]

    def bwd_half_bias(dy, cache):
        dx, dw, db = bwd(dy, cache)
        return dx, dw, None if db is None else db / 2

    data = json.loads(json.dumps(check(fwd, "dense", backward=bwd_half_bias).as_dict()))
    assert data["family"] == "dense" and data["passed"] is False and data["gradients"] is True
    basic = data["cases"][0]
    assert basic["case"] == "basic" and basic["status"] == "FAIL"
    by_name = {o["name"]: o for o in basic["outputs"]}
    assert set(by_name) == {"y", "grad x", "grad weight", "grad bias"}
    assert by_name["y"]["status"] == "pass" and by_name["y"]["ratio"] <= 1
    assert by_name["grad bias"]["status"] == "FAIL" and "0.5 x" in by_name["grad bias"]["diagnosis"]
    assert data["cases"][1]["status"] == "pass"  # no bias: nothing halved


# ------------------------------------------------------------------ the command line
def test_cli_only_skip_json_and_no_grad(capsys):
    target = "minidl.functional.activations:relu"
    assert main([target, "--case", "relu", "--only", "matrix", "--skip", "large"]) == 0
    out = capsys.readouterr().out
    assert "1/1 cases pass; 2 unsupported" in out and "(--only/--skip)" in out
    assert main([target, "--case", "relu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and [c["case"] for c in data["cases"]] == ["matrix", "image", "large"]
    assert main([target, "--case", "relu", "--skip", "nope"]) == 2
    assert "--skip 'nope' matches no case of relu" in capsys.readouterr().err


def test_cli_no_grad_with_a_backward(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text(
        "def relu_forward(x):\n    return x * (x > 0), x\n\n"
        "def relu_backward(dy, x):\n    return dy  # wrong: ignores the mask\n"
    )
    args = [f"{mine}:relu_forward", "--case", "relu", "--backward", f"{mine}:relu_backward"]
    assert main(args) == 1
    assert "forward matches; gradient wrong" in capsys.readouterr().out
    assert main([*args, "--no-grad"]) == 0
    assert "outputs only (no gradients)" in capsys.readouterr().out


def test_cli_forward_returning_y_with_backward(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text(
        "import numpy as np\n"
        "def conv(x, weight, bias, stride, padding, dilation, groups):\n"
        "    return np.zeros((x.shape[0], weight.shape[0], 4, 4))  # y only, no cache\n"
        "def conv_backward(dy, cache):\n    raise AssertionError\n"
    )
    args = [f"{mine}:conv", "--case", "conv2d", "--backward", f"{mine}:conv_backward"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "with --backward the forward must return (y, cache); it returned an array" in out
    assert "unpack" not in out and "expected (2," not in out


def test_cli_list_cases_of_a_family(capsys):
    assert main(["--list", "--case", "max_pool2d"]) == 0
    out = capsys.readouterr().out
    assert "k4_s2_pad2" in out and "padding=2" in out and "x (2, 3, 7, 6)" in out
    assert main(["--list", "--case", "nope"]) == 2


# ------------------------------------------------------------------ the pytest helper
STUDENT = textwrap.dedent(
    """
    import numpy as np
    from minidl.functional import conv2d


    def relu(x):
        return np.maximum(x, 0)


    def leaky(x):
        return np.where(x > 0, x, 0.01 * x)  # not relu: every case fails


    def conv(x, weight, bias, stride, padding, dilation, groups):
        if groups != 1:
            raise NotImplementedError("groups")
        return conv2d(x, weight, bias, stride, padding, dilation)
    """
)

TESTS = textwrap.dedent(
    """
    from minidl.conformance.testing import conformance_test

    test_relu = conformance_test("student.py:relu", "relu")
    test_leaky = conformance_test("student.py:leaky", "relu", only="matrix")
    test_conv = conformance_test("student.py:conv", "conv2d", skip="groups")
    """
)


def test_pytest_helper_one_line_per_function(tmp_path):
    (tmp_path / "student.py").write_text(STUDENT)
    (tmp_path / "test_student.py").write_text(TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # relu 3 + conv 10 pass; leaky fails its one selected case; 2 + 2 skipped
    assert "1 failed, 13 passed, 4 skipped" in out, out
    assert "test_leaky[matrix]" in out and "no known convention" in out
    assert "unsupported: left out with skip/only" in out


def test_pytest_helper_resolves_lazily():
    from minidl.conformance.testing import conformance_test

    test = conformance_test(relu, "relu")
    marks = [m for m in test.pytestmark if m.name == "parametrize"]
    assert [p.id for p in marks[0].args[1]] == ["matrix", "image", "large"]
    test("matrix")  # runs the check of that case; raises if it fails
    with pytest.raises(AssertionError, match="0/1 cases pass"):
        conformance_test(lambda x: np.abs(x), "relu")("image")
