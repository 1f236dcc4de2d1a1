"""``python -m minidl`` (the main job): --help, a --quick run's printout and files."""

import re

import numpy as np
import pytest

from minidl.__main__ import build_parser, format_confusion_matrix, main
from minidl.nn.model import Sequential


def test_help_lists_what_it_does(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("--quick", "--out", "article 003", "confusion matrix", "MACs"):
        assert word in text
    assert build_parser().parse_args([]).out == "minidl-output"


def test_format_confusion_matrix_by_hand():
    text = format_confusion_matrix(np.array([[5, 1], [0, 12]]))
    lines = text.splitlines()
    assert lines[1].split() == ["0", "5", "1"] and lines[2].split() == ["1", "0", "12"]


@pytest.mark.slow
def test_quick_run_prints_and_writes(tmp_path, capsys):
    out = tmp_path / "tour"
    assert main(["--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "parameters: 225,034" in text  # article 003's CNN, counted by hand in test_zoo
    assert "MACs per image: 2,631,040" in text
    acc = float(re.search(r"test accuracy: ([0-9.]+) \((\d+) of 2000\)", text).group(1))
    assert acc > 0.8  # one epoch on 3,000 images; chance is 0.1
    rows = [line.split() for line in text.splitlines() if re.fullmatch(r"\s+\d( +\d+){10}", line)]
    assert len(rows) == 10 and sum(int(v) for r in rows for v in r[1:]) == 2000
    for name in ("history.png", "filters.png", "feature_maps.png", "confusion_matrix.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    model = Sequential.load(out / "model.npz")
    assert sum(p.size for p in model.params.values()) == 225_034


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "2.5"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2_before_any_work(argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed, nothing loaded or trained
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in captured.err


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    existing = tmp_path / "README.md"
    existing.write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        main(["--quick", "--out", str(existing)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--out" in captured.err and "not a folder" in captured.err
    assert existing.read_text() == "not a folder"
