"""python -m minidl.check: table, exit status, file paths, usage errors."""

import subprocess
import sys
import textwrap

import pytest

from minidl.check import main, resolve


def test_minidl_relu_passes_exit_zero(capsys):
    assert main(["minidl.functional.activations:relu", "--case", "relu"]) == 0
    out = capsys.readouterr().out
    assert "3/3 cases pass" in out and "FAIL" not in out


def test_wrong_file_implementation_exits_one_with_diagnosis(tmp_path, capsys):
    student = tmp_path / "layers.py"
    student.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from minidl.functional import conv2d

            def conv_flipped(x, weight, bias, stride, padding, dilation, groups):
                return conv2d(x, weight[:, :, ::-1, ::-1].copy(), bias, stride, padding,
                              dilation, groups)
            """
        )
    )
    assert main([f"{student}:conv_flipped", "--case", "conv2d"]) == 1
    out = capsys.readouterr().out
    assert "0/12 cases pass" in out and "kernel flipped" in out


def test_backward_from_the_command_line(capsys):
    args = ["minidl.conformance.reference:REFERENCE", "--case", "relu"]
    assert main(args) == 2  # a dict is not callable: reported, not a traceback
    fwd = "minidl.functional.dense:dense"
    assert main([fwd, "--case", "dense", "--grad"]) == 2
    err = capsys.readouterr().err
    # the command line names its own flags, not check()'s keywords
    assert "--grad needs gradients: pass --backward" in err and "backward=" not in err


def test_usage_errors_exit_two(capsys):
    assert main(["minidl.functional.activations:relu"]) == 2
    assert main(["minidl.functional.activations:relu", "--case", "nope"]) == 2
    assert "case family must be one of" in capsys.readouterr().err
    assert main(["no_such_file.py:f", "--case", "relu"]) == 2
    assert main(["minidl.functional.activations:nope", "--case", "relu"]) == 2
    with pytest.raises(ValueError, match="MODULE:FUNCTION"):
        resolve("relu")


def test_list_names_every_family(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "conv2d" in out and "magnitude_mask" in out and "f(x, axis) -> y" in out


def test_runs_as_a_module_in_a_subprocess(tmp_path):
    student = tmp_path / "mine.py"
    student.write_text(
        "def softmax(x, axis):\n    import numpy as np\n"
        "    e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
        "    return e / e.sum(axis=-1, keepdims=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "minidl.check", f"{student}:softmax", "--case", "softmax"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "3/5 cases pass" in proc.stdout and "instead of axis 1" in proc.stdout


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_torch_conv2d_from_the_command_line(capsys):
    pytest.importorskip("torch")
    args = ["torch.nn.functional:conv2d", "--case", "conv2d", "--adapter", "torch"]
    # PyTorch refuses padding='same' with stride 2: one ERROR row, exit status 1
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "11/12 cases pass" in out and "explicit_padding" in out
    assert main(args[:-1] + ["torch+explicit_padding", "--grad"]) == 0
    assert "12/12 cases pass" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "not json", "deep json"])
def test_corrupt_golden_file_is_one_clean_line_and_exit_two(tmp_path, damage):
    # before: a traceback (BadZipFile, JSONDecodeError, RecursionError) and exit status 1,
    # which means "a case failed"
    import shutil

    import numpy as np

    from minidl.conformance.store import GOLDEN_DIR

    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, golden)
    path = golden / "relu.npz"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
    else:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["meta"] = np.array(["{not json" if damage == "not json" else "[" * 100_000])
        np.savez(path, **arrays)
    done = subprocess.run(
        [sys.executable, "-m", "minidl.check", "minidl.functional.activations:relu", "--case",
         "relu", "--golden", str(golden)], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: golden file"), done.stderr[-500:]
    assert str(path) in lines[0]
