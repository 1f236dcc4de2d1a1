"""The wheel carries everything the package reads: a non-editable install runs the main job.

The bundled data live in the top-level ``datasets/`` folder and are mapped into the wheel as
``minidl/_datasets`` by pyproject.toml. These tests build the real wheel, install it into a
fresh folder and run ``python -m minidl --quick`` from outside the repository.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from minidl.datasets import CHECKSUMS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets"


def listed_packages():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def folders_that_ship():
    """Every folder of minidl/ that holds files to ship, and datasets/ under its package name."""
    found = set()
    for path in (ROOT / "minidl").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            found.add(".".join(path.parent.relative_to(ROOT).parts))
    for path in DATA.rglob("*"):
        if path.is_file():
            found.add(".".join(("minidl", "_datasets") + path.parent.relative_to(DATA).parts))
    return found


def test_pyproject_lists_every_folder_that_ships():
    assert listed_packages() == folders_that_ship()


def source_copy(dest):
    """The repository's files as a fresh clone has them (tracked, or new and not ignored):
    building in place would reuse a stale ``build/`` folder that can hide a missing file."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (path,) = out.glob("minidl-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_the_data_golden_files_and_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in CHECKSUMS:
        assert f"minidl/_datasets/{name}" in names
    assert "minidl/_datasets/README.md" in names
    assert any(n.startswith("minidl/conformance/golden/") and n.endswith(".npz") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


@pytest.mark.slow
def test_installed_wheel_runs_the_main_job_from_elsewhere(wheel, tmp_path):
    target = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_DATASETS"}
    env["PYTHONPATH"] = str(target)  # ahead of any editable install of the repository
    env["MPLBACKEND"] = "Agg"
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [sys.executable, "-c", "import minidl, minidl.datasets.bundled as d; "
         "print(minidl.__file__); print(d.datasets_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(pathlib.Path(p).is_relative_to(target) for p in where), where
    job = subprocess.run(
        [sys.executable, "-m", "minidl", "--quick", "--out", str(work / "out")],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    assert "test accuracy" in job.stdout.lower()
    assert (work / "out" / "model.npz").is_file()
