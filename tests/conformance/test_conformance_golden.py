"""The golden files: regenerated data equal the stored files, and the stored gradients agree
with central differences of minidl's forward (independent of minidl's backward code)."""

import json
import pathlib

import numpy as np
import pytest

from minidl.conformance.cases import FAMILIES, get_family
from minidl.conformance.generate import generate
from minidl.conformance.reference import REFERENCE
from minidl.conformance.store import GOLDEN_DIR, GoldenCase, load_family, save_family
from minidl.gradcheck import numerical_gradient, rel_error

# Regeneration runs the same code on the same inputs, so on one machine the files are equal
# bit for bit (measured here). Another machine's BLAS may pick other GEMM kernels and sum in
# another order: 1e-15 of each array's scale (about 5 ulps) absorbs that and nothing else.
# LAPACK's eigh/solve may take another blocked path: an eigenvector moves by about
# eps * lambda_1 / gap (~1e-14 for these spectra), hence 1e-13 for PCA and ridge. The lasso is
# iterative: another rounding can stop coordinate descent one sweep earlier or later, which
# moves the coefficients by at most the 1e-12 duality-gap tolerance they were solved to.
REGEN_TOL = {"lasso": 1e-10, "pca": 1e-13, "ridge": 1e-13}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    generate(out)
    return out


def test_every_family_has_a_stored_file_and_nothing_else():
    stored = {p.stem for p in GOLDEN_DIR.glob("*.npz")}
    assert stored == set(FAMILIES)


def test_golden_files_are_small():
    total = sum(p.stat().st_size for p in GOLDEN_DIR.glob("*.npz"))
    assert total < 2 * 2**20, f"golden files take {total} bytes"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_regenerated_equals_stored(name, regenerated):
    meta_new, new = load_family(name, regenerated)
    meta_old, old = load_family(name)
    meta_new.pop("minidl_version")
    meta_old.pop("minidl_version")
    assert meta_new == meta_old
    assert [c.name for c in new] == [c.name for c in old]
    tol = REGEN_TOL.get(name, 1e-15)
    for a, b in zip(new, old, strict=True):
        for part in ("inputs", "outputs", "grads"):
            da, db = getattr(a, part) or {}, getattr(b, part) or {}
            assert da.keys() == db.keys(), (a.name, part)
            for key in da:
                x, y = da[key], db[key]
                assert x.dtype == y.dtype and x.shape == y.shape, (a.name, part, key)
                if x.dtype.kind == "f":
                    assert rel_error(x, y) <= tol, (a.name, part, key, rel_error(x, y))
                else:
                    assert np.array_equal(x, y), (a.name, part, key)
        assert (a.dy is None) == (b.dy is None)
        if a.dy is not None:
            assert np.array_equal(a.dy, b.dy)


def test_inputs_are_float64_and_dy_is_not_ones():
    for name in FAMILIES:
        for case in load_family(name)[1]:
            for key, v in case.inputs.items():
                assert v.dtype in (np.float64, np.int64, np.int8), (name, case.name, key)
            if case.dy is not None:
                assert np.ptp(case.dy) > 0 or case.dy.ndim == 0, (name, case.name)


def _forward_value(name, case):
    """A closure over the case's (mutable, copied) inputs giving sum(y * dy) by minidl's forward."""
    family = get_family(name)
    forward = REFERENCE[name][0]
    inputs = {k: v.copy() for k, v in case.inputs.items()}

    def f():
        args = [inputs.get(a, case.kwargs.get(a)) for a in family.args]
        kw = {k: inputs.get(k, case.kwargs.get(k)) for k in family.keywords}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items() if v is not None}
        kw = {k: v.copy() if k in family.mutated else v for k, v in kw.items()}
        y = forward(*(tuple(a) if isinstance(a, list) else a for a in args), **kw)[0]
        return np.sum(np.asarray(y) * case.dy)

    return inputs, f


GRAD_FAMILIES = sorted(n for n, f in FAMILIES.items() if f.grad_wrt)


@pytest.mark.parametrize("name", GRAD_FAMILIES)
def test_stored_gradients_match_central_differences(name):
    """The golden gradients equal numerical gradients of sum(y * dy): they are right, not just
    what minidl's backward happens to return (max pooling has no ties in these inputs, so the
    central difference is well defined)."""
    worst = 0.0
    rng = np.random.default_rng(0)
    for case in load_family(name)[1]:
        inputs, f = _forward_value(name, case)
        for key, g in case.grads.items():
            if g.size <= 40:
                worst = max(worst, rel_error(numerical_gradient(f, inputs[key]), g))
                continue
            # larger arrays: 40 random entries by central differences (keeps the 3-D cases fast)
            x, num = inputs[key], []
            picks = [np.unravel_index(i, x.shape) for i in rng.choice(x.size, 40, replace=False)]
            for i in picks:
                old = x[i]
                x[i] = old + 1e-6
                up = f()
                x[i] = old - 1e-6
                down = f()
                x[i] = old
                num.append((up - down) / 2e-6)
            sub = np.array([g[i] for i in picks])
            worst = max(worst, float(np.max(np.abs(sub - num)) / np.max(np.abs(g))))
    assert worst < 1e-6, worst  # the project standard; logits of +-500 cost ~1e-7 here


def test_save_is_atomic_and_names_a_missing_file(tmp_path):
    family = get_family("relu")
    with pytest.raises(FileNotFoundError, match="relu.npz"):
        load_family("relu", tmp_path)
    path = tmp_path / "relu.npz"
    bad = GoldenCase("c", {"x": np.array([None, 1.0], dtype=object)}, {}, {})
    with pytest.raises(TypeError, match="'c/in/x' has dtype object"):
        save_family(path, {"family": "relu"}, [bad])
    assert not path.exists() and not list(tmp_path.iterdir())  # no half-written file
    save_family(path, {"family": "sigmoid", "format": 1, "cases": []}, [])
    with pytest.raises(ValueError, match="family 'sigmoid'"):
        load_family(family.name, tmp_path)


def test_meta_is_json_strings_and_loads_without_pickle():
    with np.load(pathlib.Path(GOLDEN_DIR) / "conv2d.npz", allow_pickle=False) as data:
        meta = json.loads(str(data["meta"][0]))
        assert data["meta"].dtype.kind == "U"
    assert meta["family"] == "conv2d" and len(meta["cases"]) == len(FAMILIES["conv2d"].cases)
