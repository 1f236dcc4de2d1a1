import ast
import pathlib

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


def test_seed_makes_draws_reproducible():
    a = minidl.seed(3).normal(size=4)
    b = minidl.seed(3).normal(size=4)
    assert np.array_equal(a, b)
    assert minidl.get_rng(5).normal() == np.random.default_rng(5).normal()


def test_get_rng_rejects_other_types():
    with pytest.raises(TypeError, match="rng"):
        minidl.get_rng("seed")
