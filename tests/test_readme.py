"""The README's "A page of minidl" runs as written and does what the text around it says."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_page_names_each_step_of_a_first_sitting():
    page = section("A page of minidl")
    steps = ("minidl.save(", "minidl.load(", ".evaluate(", "prune_and_finetune(",
             "save_compressed(", "load_compressed(", "python -m minidl.check")  # fmt: skip
    for step in steps:
        assert step in page, step


@pytest.mark.slow
def test_a_page_of_minidl_runs_and_prints_what_the_text_says(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", section("A page of minidl"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md: A page of minidl", "exec"), {})
    out = capsys.readouterr().out
    float_acc = float(re.search(r"float32: ([\d.]+)% test accuracy", out).group(1))
    small_acc, size = re.search(r"pruned \+ int8: ([\d.]+)% in ([\d,]+) bytes", out).groups()
    assert float_acc >= 97.0  # "about 97.5%"
    assert float(small_acc) >= float_acc - 0.5  # "as much for the pruned int8 one"
    assert 50_000 <= int(size.replace(",", "")) <= 70_000  # "about 60 KB"
    assert (tmp_path / "cnn.npz").stat().st_size > 850_000  # "the float file's 900 KB"


def test_the_versions_tested_are_the_floors_pyproject_declares():
    # .ci/minimum_versions installs the floors it reads from pyproject.toml; the README must name
    # the same ones, so raising a floor without saying so fails here.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; CI's first run has it
    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]
    said = " ".join(section("Two commands").split())
    python_floor = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    assert f"Python {python_floor} with" in said
    names = {"numpy": "NumPy", "matplotlib": "matplotlib", "tqdm": "tqdm",
             "threadpoolctl": "threadpoolctl"}  # fmt: skip
    for spec in project["dependencies"]:
        name, floor = re.fullmatch(r"([\w.-]+)>=([\d.]+)", spec).groups()
        version = floor if floor.count(".") >= 2 else floor + ".0"
        assert f"{names[name]} {version}" in said, spec
