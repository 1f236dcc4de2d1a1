import ast
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minidl

PKG = pathlib.Path(minidl.__file__).parent
FORBIDDEN = {"torch", "tensorflow", "jax", "sklearn", "scipy", "keras", "autograd"}


def test_minidl_imports_no_framework():
    """minidl/ never imports a deep-learning framework or an oracle library."""
    offenders = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_every_module_imports_first():
    """Each module imports in a fresh state, whatever the order (a circular import between
    the data modules once broke ``import minidl.synthetic`` as the first import, while
    ``import minidl.datasets`` first worked)."""
    modules = sorted(
        ".".join(("minidl",) + p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
        for p in PKG.rglob("*.py")
        if p.name != "__main__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    for key in [k for k in sys.modules if k == 'minidl' or k.startswith('minidl.')]:\n"
        "        del sys.modules[key]\n"
        "    importlib.import_module(name)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "minidl.datasets.synthetic" in modules and "minidl.datasets.mnist" in modules


def test_seed_makes_draws_reproducible():
    a = minidl.seed(3).normal(size=4)
    b = minidl.seed(3).normal(size=4)
    assert np.array_equal(a, b)
    assert minidl.get_rng(5).normal() == np.random.default_rng(5).normal()


def test_get_rng_rejects_other_types():
    with pytest.raises(TypeError, match="rng"):
        minidl.get_rng("seed")
