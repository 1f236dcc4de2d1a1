"""Bundled loaders: shapes, dtypes, values published with the data, checksums, bad input.

Expected values come from the sources (the raw text of the files, the published class counts,
the LARS paper), never from minidl's own output.
"""

import shutil

import numpy as np
import pytest

from minidl import datasets as ds


def _copy_bundle(tmp_path, *names):
    """Copy bundled files into tmp_path (keeping sub-folders) so a test can damage them."""
    for name in names:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ds.datasets_dir() / name, target)
    return tmp_path


# ---------------------------------------------------------------- checksums and files


def test_every_bundled_file_matches_its_checksum():
    for name, digest in ds.CHECKSUMS.items():
        assert ds.sha256(ds.datasets_dir() / name) == digest, name


def test_bundled_folder_stays_small():
    total = sum(p.stat().st_size for p in ds.datasets_dir().rglob("*") if p.is_file())
    assert total < 3 * 2**20


def test_readme_records_every_checksum():
    readme = (ds.datasets_dir() / "README.md").read_text(encoding="utf-8")
    for name, digest in ds.CHECKSUMS.items():
        assert digest in readme, name


def test_corrupt_file_names_file_and_checksums(tmp_path):
    d = _copy_bundle(tmp_path, "diabetes_data_raw.csv.gz", "diabetes_target.csv.gz")
    raw = bytearray((d / "diabetes_target.csv.gz").read_bytes())
    raw[100] ^= 0xFF
    (d / "diabetes_target.csv.gz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"checksum mismatch for .*diabetes_target\.csv\.gz"):
        ds.load_diabetes(data_dir=d)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"digits\.csv\.gz.*not found at"):
        ds.load_digits(data_dir=tmp_path)


def test_environment_variable_relocates_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        ds.load_digits()


def test_unknown_bundled_name():
    with pytest.raises(ValueError, match="name must be one of"):
        ds.bundled_path("iris.csv")


# ---------------------------------------------------------------- diabetes


def test_diabetes_raw_first_row_and_target():
    # First patient in Efron et al.'s table (www4.stat.ncsu.edu/~boos/var.select/diabetes.html).
    X, y = ds.load_diabetes(scaled=False)
    assert X.shape == (442, 10) and y.shape == (442,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(X[0], [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87])
    np.testing.assert_array_equal(y[:3], [151, 75, 141])
    assert (y.min(), y.max()) == (25, 346)


def test_diabetes_scaled_columns_centred_unit_norm():
    X, _ = ds.load_diabetes()
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose((X**2).sum(axis=0), 1, rtol=1e-13)


def test_diabetes_scaled_is_affine_image_of_raw():
    # Each scaled column is a positive affine map of the raw one (order and sign kept).
    Xs, _ = ds.load_diabetes(scaled=True)
    Xr, _ = ds.load_diabetes(scaled=False)
    for j in range(10):
        slope, intercept = np.polyfit(Xr[:, j], Xs[:, j], 1)
        assert slope > 0
        np.testing.assert_allclose(slope * Xr[:, j] + intercept, Xs[:, j], atol=1e-13)


def test_diabetes_ols_l1_norm_matches_lars_paper():
    # Efron et al. (2004), Fig. 1: the LARS/Lasso paths end at the least-squares fit, whose
    # coefficients on the standardized predictors have sum |beta_j| = 3460.
    X, y = ds.load_diabetes()
    A = np.column_stack([np.ones(len(y)), X])
    beta = np.linalg.lstsq(A, y, rcond=None)[0]
    assert abs(np.abs(beta[1:]).sum() - 3460) < 0.5


def test_diabetes_bad_scaled():
    with pytest.raises(TypeError, match="scaled"):
        ds.load_diabetes(scaled="yes")


# ---------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_class_counts():
    X, y = ds.load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    # Class counts of the UCI optdigits test set (optdigits.tes).
    np.testing.assert_array_equal(
        np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    )
    assert X.min() == 0 and X.max() == 16
    np.testing.assert_array_equal(X, np.round(X))


def test_digits_first_image_from_source_text():
    # First row of optdigits.tes / digits.csv.gz, a zero.
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
             0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
             0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]  # fmt: skip
    X, y = ds.load_digits(as_images=False, dtype=np.float64)
    assert X.shape == (1797, 64) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0], first)
    assert y[0] == 0
    Xi, _ = ds.load_digits(as_images=True)
    np.testing.assert_array_equal(Xi[0, 0], np.reshape(first, (8, 8)))


def test_digits_scale_divides_by_16():
    X, _ = ds.load_digits()
    Xs, _ = ds.load_digits(scale=True)
    assert Xs.dtype == np.float32 and Xs.max() == 1.0
    np.testing.assert_array_equal(Xs * 16, X)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"as_images": 1}, TypeError, "as_images"),
        ({"scale": None}, TypeError, "scale"),
        ({"dtype": np.int32}, TypeError, "dtype"),
    ],
)
def test_digits_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ds.load_digits(**kwargs)
