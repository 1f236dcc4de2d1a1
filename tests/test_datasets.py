"""Bundled loaders: shapes, dtypes, values published with the data, checksums, bad input.

Expected values come from the sources (the raw text of the files, the published class counts,
the LARS paper), never from minidl's own output.
"""

import gzip
import hashlib
import shutil
import struct

import crafted_files as cf
import numpy as np
import pytest

from minidl import datasets as ds
from minidl.datasets import bundled


def _copy_bundle(tmp_path, *names):
    """Copy bundled files into tmp_path (keeping sub-folders) so a test can damage them."""
    for name in names:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled.datasets_dir() / name, target)
    return tmp_path


# ---------------------------------------------------------------- checksums and files


def test_every_bundled_file_matches_its_checksum():
    for name, digest in ds.CHECKSUMS.items():
        assert bundled.sha256(bundled.datasets_dir() / name) == digest, name


def test_bundled_folder_stays_small():
    total = sum(p.stat().st_size for p in bundled.datasets_dir().rglob("*") if p.is_file())
    assert total < 3 * 2**20


def test_readme_records_every_checksum():
    readme = (bundled.datasets_dir() / "README.md").read_text(encoding="utf-8")
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


# ---------------------------------------------------------------- IDX reader


def _idx_bytes(code, shape, payload):
    """IDX bytes built by hand from the format's definition (not with minidl's writer)."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}i", *shape) + payload


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_hand_written_files(tmp_path, compress):
    labels = _idx_bytes(0x08, (5,), bytes([3, 1, 4, 1, 5]))
    images = _idx_bytes(0x08, (2, 2, 3), bytes(range(12)))
    shorts = _idx_bytes(0x0B, (3,), struct.pack(">3h", -2, 300, 7))
    floats = _idx_bytes(0x0D, (2, 1), struct.pack(">2f", 1.5, -0.25))
    cases = [
        (labels, np.array([3, 1, 4, 1, 5], np.uint8)),
        (images, np.arange(12, dtype=np.uint8).reshape(2, 2, 3)),
        (shorts, np.array([-2, 300, 7], np.int16)),
        (floats, np.array([[1.5], [-0.25]], np.float32)),
    ]
    for i, (raw, expected) in enumerate(cases):
        path = tmp_path / f"f{i}.idx"  # no .gz suffix: compression is found from the bytes
        path.write_bytes(gzip.compress(raw) if compress else raw)
        got = ds.read_idx(path)
        assert got.dtype == expected.dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, expected)
        got[...] = 0  # a writable copy, not a view of read-only bytes


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x00\x00", r"expected a 4-byte IDX magic number, found 2 bytes"),
        (
            b"\x08\x03\x00\x00" + bytes(20),
            r"expected IDX magic starting 0x00 0x00, found 0x08 0x03",
        ),
        (b"\x00\x00\x0a\x01" + bytes(8), r"expected an IDX type code in .*found 0x0A"),
        (b"\x00\x00\x08\x00", r"expected at least 1 dimension"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", r"expected a 16-byte header .* \(truncated\)"),
        (_idx_bytes(0x08, (2, 3), bytes(5)), r"expected 6 bytes .*found 5 \(truncated\)"),
        (_idx_bytes(0x0C, (2,), bytes(9)), r"expected 8 bytes .*int32.*found 9 \(trailing"),
        (_idx_bytes(0x08, (-1,), b""), r"expected non-negative dimensions"),
    ],
)
def test_read_idx_bad_files_name_file_and_expectation(tmp_path, raw, match):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        ds.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip(tmp_path):
    packed = gzip.compress(_idx_bytes(0x08, (100,), bytes(range(100))))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        ds.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    packed = bytearray(gzip.compress(_idx_bytes(0x08, (400,), bytes(range(200)) * 2), mtime=0))
    packed[len(packed) // 2] ^= 0x55  # damage the deflate stream or the CRC check fails
    path = tmp_path / "flipped-idx1-ubyte.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"flipped-idx1-ubyte\.gz: corrupt or truncated gzip"):
        ds.read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        ds.read_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_idx_matches_format_and_round_trips(tmp_path, rng, dtype, name):
    x = (rng.normal(size=(3, 4)) * 50).astype(dtype)
    path = ds.write_idx(tmp_path / name, x)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}
    assert raw == _idx_bytes(code[dtype], (3, 4), x.astype(x.dtype.newbyteorder(">")).tobytes())
    np.testing.assert_array_equal(ds.read_idx(path), x)
    assert not (tmp_path / (name + ".tmp")).exists()


def test_write_idx_bad_dtype(tmp_path):
    with pytest.raises(TypeError, match="array must have dtype"):
        ds.write_idx(tmp_path / "x.idx", np.zeros(3, np.int64))


# ---------------------------------------------------------------- crafted IDX files (issue 17)


def test_read_idx_dimensions_whose_product_overflows_int64(tmp_path):
    # before: 2^16 four times wrapped to 0 bytes in int64, matched the empty data, and
    # numpy's reshape failed without naming the file
    path = cf.idx_overflow(tmp_path / "big-idx4-ubyte")
    with pytest.raises(ValueError, match=r"big-idx4-ubyte: expected 18446744073709551616 bytes"):
        ds.read_idx(path)


def test_read_idx_of_a_folder_says_folder(tmp_path):
    # before: FileNotFoundError("IDX file not found") for a folder that exists
    with pytest.raises(ValueError, match="is a folder, not an IDX file"):
        ds.read_idx(tmp_path)


def test_read_idx_gzip_bomb_after_a_small_header_is_refused_cheaply(tmp_path):
    # before: gzip.decompress inflated everything (64 MiB here, 1 GB in the red team's file)
    # and the array conversion copied it: 2 GB for a 1 MB file
    path = cf.idx_gzip_bomb(tmp_path / "bomb.gz", 64 * 2**20)
    error, peak = cf.peak_memory(lambda: ds.read_idx(path))
    assert isinstance(error, ValueError), repr(error)
    assert "bomb.gz: expected 10 bytes of data for shape (10,) (uint8), found more" in str(error)
    assert peak < 2**20, f"{peak / 2**20:.1f} MiB"


def test_read_idx_header_claiming_more_than_gzip_can_hold(tmp_path):
    path = tmp_path / "claims.gz"
    path.write_bytes(gzip.compress(cf.idx_header(0x0D, (1000, 1000, 1000))))
    error, peak = cf.peak_memory(lambda: ds.read_idx(path))
    assert isinstance(error, ValueError) and "more than a" in str(error), repr(error)
    assert peak < 2**20


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
def test_read_idx_costs_one_array(tmp_path, dtype):
    # the data is read into the array it returns (byte-swapped in place), no second copy
    x = np.arange(250_000, dtype=dtype)
    path = ds.write_idx(tmp_path / "x.idx", x)
    error, peak = cf.peak_memory(lambda: ds.read_idx(path))
    assert error is None and peak < 1.2 * x.nbytes + 2**16, f"{peak} for {x.nbytes}"
    np.testing.assert_array_equal(ds.read_idx(path), x)


def test_write_idx_refuses_a_dimension_the_header_cannot_hold(tmp_path):
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(2**31,), strides=(0,))
    with pytest.raises(ValueError, match="fit in int32"):
        ds.write_idx(tmp_path / "x.idx", huge)


# ---------------------------------------------------------------- MNIST


def test_bundled_mnist_is_the_published_test_set():
    X, y = ds.load_mnist()
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    # Published class counts of the MNIST test set and its first labels.
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    assert X.min() == 0 and X.max() == 1
    # Re-encode with a hand-made header: the bytes must hash to the md5 of LeCun's files.
    pixels = np.rint(X[:, 0] * 255).astype(np.uint8)
    raw = _idx_bytes(0x08, (10000, 28, 28), pixels.tobytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    raw = _idx_bytes(0x08, (10000,), y.astype(np.uint8).tobytes())
    assert hashlib.md5(raw).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_mnist_unscaled_float64():
    X, _ = ds.load_mnist(kind="test", scale=False, dtype=np.float64)
    assert X.dtype == np.float64 and X.max() == 255
    np.testing.assert_array_equal(X, np.round(X))


def _write_mnist_folder(folder, kind, images, labels, gz):
    suffix = ".gz" if gz else ""
    stems = {"train": "train", "t10k": "t10k"}[kind]
    for stem, arr, code in ((f"{stems}-images-idx3-ubyte", images, 8),
                            (f"{stems}-labels-idx1-ubyte", labels, 8)):  # fmt: skip
        raw = _idx_bytes(code, arr.shape, arr.astype(np.uint8).tobytes())
        (folder / (stem + suffix)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_user_folder(tmp_path, rng, gz):
    images = rng.integers(0, 256, size=(6, 28, 28))
    labels = np.array([0, 9, 3, 3, 1, 7])
    _write_mnist_folder(tmp_path, "train", images, labels, gz)
    X, y = ds.load_mnist(str(tmp_path), kind="train")
    np.testing.assert_allclose(X[:, 0], images / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_accepts_dotted_names(tmp_path):
    raw = _idx_bytes(8, (2,), bytes([4, 2]))
    (tmp_path / "t10k-labels.idx1-ubyte").write_bytes(raw)
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(_idx_bytes(8, (2, 28, 28), bytes(1568)))
    _, y = ds.load_mnist(tmp_path)
    np.testing.assert_array_equal(y, [4, 2])


def test_load_mnist_missing_files_name_folder_and_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*not found in"):
        ds.load_mnist(tmp_path, kind="train")
    with pytest.raises(FileNotFoundError, match=r"not a directory"):
        ds.load_mnist(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"training set is not bundled"):
        ds.load_mnist(kind="train")


def test_load_mnist_inconsistent_files(tmp_path, rng):
    _write_mnist_folder(tmp_path, "t10k", np.zeros((3, 28, 28)), np.array([1, 2]), gz=False)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: expected 3 uint8 labels"):
        ds.load_mnist(tmp_path)
    _write_mnist_folder(tmp_path, "t10k", np.zeros((2, 28, 28)), np.array([1, 12]), gz=False)
    with pytest.raises(ValueError, match=r"expected labels 0..9, found 12"):
        ds.load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(8, (784,), bytes(784)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected uint8 images"):
        ds.load_mnist(tmp_path)


def test_corrupt_bundled_mnist(tmp_path):
    d = _copy_bundle(tmp_path, "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
    path = d / "mnist/t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"checksum mismatch for .*t10k-labels-idx1-ubyte\.gz"):
        ds.load_mnist(data_dir=d)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"kind": "val"}, ValueError, "kind"),
        ({"scale": 1}, TypeError, "scale"),
        ({"dtype": np.uint8}, TypeError, "dtype"),
    ],
)
def test_load_mnist_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ds.load_mnist(**kwargs)


def test_t10k_split_partition_reproducible_and_mixed():
    X, y = ds.load_mnist()
    (Xa, ya), (Xb, yb) = ds.load_mnist_t10k_split()
    assert Xa.shape == (8000, 1, 28, 28) and Xb.shape == (2000, 1, 28, 28)
    assert ya.dtype == yb.dtype == np.int64 and Xa.dtype == np.float32
    # The split is the documented permutation: rows are the full set's rows in that order.
    order = np.random.default_rng(0).permutation(10000)
    np.testing.assert_array_equal(Xa, X[order[:8000]])
    np.testing.assert_array_equal(yb, y[order[8000:]])
    np.testing.assert_array_equal(np.bincount(ya) + np.bincount(yb), np.bincount(y))
    # Both halves of the set (easier SD-3 first, harder SD-1 last) reach the test part.
    from_first_half = np.sum(order[8000:] < 5000)
    assert 900 < from_first_half < 1100
    (_, yc), _ = ds.load_mnist_t10k_split(n_train=8000, seed=1)
    assert not np.array_equal(ya, yc)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_train": 10000}, ValueError, "n_train"),
        ({"n_train": 8000.0}, TypeError, "n_train"),
        ({"seed": "0"}, TypeError, "seed"),
    ],
)
def test_t10k_split_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ds.load_mnist_t10k_split(**kwargs)
