"""Bundled data sets, an IDX (MNIST) reader and seeded toy generators.

Every file the loaders read ships in the repository's ``datasets/`` folder, so a clone works
offline; ``datasets/README.md`` names each file's origin, licence, size and SHA-256. A loader
verifies the SHA-256 before parsing, so a damaged or replaced file fails with an error naming
the file instead of training on wrong data.

The folder is found next to the package (``<repo>/datasets``, which is where an editable
install or a clone puts it); set the environment variable ``MINIDL_DATASETS`` or pass
``data_dir=`` to read it from elsewhere.

=========================  ==========================================  =======================
loader                     returns                                     dtype
=========================  ==========================================  =======================
``load_diabetes``          X (442, 10), y (442,)                       float64, float64
``load_digits``            X (1797, 1, 8, 8) or (1797, 64), y (1797,)  float32, int64
``load_mnist``             X (N, 1, 28, 28) in [0, 1], y (N,)           float32, int64
``load_mnist_t10k_split``  (X_train, y_train), (X_test, y_test)        float32, int64
``make_moving_digits``     X (n, 1, T, H, W), y direction (n,)         float32, int64
``make_signals_1d``        X (n, 1, L), y waveform class (n,)          float32, int64
=========================  ==========================================  =======================

``read_idx`` / ``write_idx`` read and write the IDX format of the MNIST files.
"""

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from minidl._validation import check_positive_int

# SHA-256 of each bundled file, exactly as in datasets/README.md. The three csv.gz files are
# byte-for-byte scikit-learn's bundled copies; the MNIST files are the original IDX gzips.
CHECKSUMS = {
    "diabetes_data_raw.csv.gz": "7fc0ded571454b1982210d3bb43f0aca44eae01a0b8654a3b24022bdb6b38009",
    "diabetes_target.csv.gz": "8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803",
    "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "mnist/t10k-images-idx3-ubyte.gz": (
        "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b"
    ),
    "prostate.data": "b430e3ee430d836672e30615ceda161ded50a8cf4701fe130580eab5153aa0b2",
    "mnist/t10k-labels-idx1-ubyte.gz": (
        "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c"
    ),
}

PROSTATE_FEATURES = ("lcavol", "lweight", "age", "lbph", "svi", "lcp", "gleason", "pgg45")
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def datasets_dir(data_dir=None):
    """Return the folder of bundled files: ``data_dir``, else ``$MINIDL_DATASETS``, else repo's."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("MINIDL_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "datasets"


def sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundled_path(name, data_dir=None):
    """Path of the bundled file ``name`` (a key of ``CHECKSUMS``), after checking its SHA-256.

    Raises ``FileNotFoundError`` naming the path when the file is missing and ``ValueError``
    naming the file, the expected and the found checksum when the bytes differ.
    """
    if name not in CHECKSUMS:
        raise ValueError(f"name must be one of {sorted(CHECKSUMS)}, got {name!r}")
    path = datasets_dir(data_dir) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled data file {name!r} not found at {path}; expected the repository's "
            f"datasets/ folder (set MINIDL_DATASETS or pass data_dir= to point elsewhere)"
        )
    found = sha256(path)
    if found != CHECKSUMS[name]:
        raise ValueError(
            f"checksum mismatch for {path}: expected sha256 {CHECKSUMS[name]}, got {found}; "
            f"the file is corrupt or was replaced (restore it from the repository)"
        )
    return path


def _load_csv_gz(path, delimiter=None):
    """Parse a gzip-compressed text table into float64 (as scikit-learn's loader does)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return np.loadtxt(f, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"cannot parse {path} as a gzip-compressed CSV table: {exc}") from exc


def load_diabetes(scaled=True, data_dir=None):
    r"""Diabetes data of Efron, Hastie, Johnstone and Tibshirani (2004), "Least Angle Regression".

    442 patients, 10 baseline variables (age, sex, bmi, bp, s1..s6, see ``DIABETES_FEATURES``)
    and a measure of disease progression one year later (25..346).

    With ``scaled=True`` (scikit-learn's default) each column :math:`x_j` is centred and scaled
    so that its sum of squares is 1:

    .. math:: \tilde x_{ij} = \frac{x_{ij} - \bar x_j}{\sigma_j \sqrt{n}}, \qquad
              \sigma_j^2 = \frac{1}{n}\sum_i (x_{ij} - \bar x_j)^2

    (population standard deviation), which is the form the LARS paper's tables use.
    ``scaled=False`` gives the raw measurements. The target is never scaled.

    Returns
    -------
    X : ndarray, float64, shape (442, 10)
    y : ndarray, float64, shape (442,)
    """
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False, got {scaled!r}")
    X = _load_csv_gz(bundled_path("diabetes_data_raw.csv.gz", data_dir))
    y = _load_csv_gz(bundled_path("diabetes_target.csv.gz", data_dir)).ravel()
    if X.shape != (442, 10) or y.shape != (442,):
        raise ValueError(
            f"diabetes files must hold 442x10 and 442 values, got {X.shape}, {y.shape}"
        )
    if scaled:
        centred = X - X.mean(axis=0)
        std = np.sqrt(np.mean(centred**2, axis=0))
        X = centred / (std * np.sqrt(X.shape[0]))
    return X, y


def load_digits(as_images=True, scale=False, dtype=np.float32, data_dir=None):
    """Handwritten digits 8x8 (UCI optdigits test set, 1,797 images, as scikit-learn bundles it).

    Each pixel counts the "on" pixels of a 4x4 block of a 32x32 bitmap, so values are the
    integers 0..16.

    Parameters
    ----------
    as_images : bool
        True: ``X`` has shape (1797, 1, 8, 8), channels first, ready for ``Conv2D``.
        False: (1797, 64), row-major pixels, as ``sklearn.datasets.load_digits().data``.
    scale : bool
        False: pixel values 0..16 as stored. True: divided by 16, so in [0, 1].
    dtype : float32 or float64

    Returns
    -------
    X : ndarray of ``dtype``
    y : ndarray, int64, shape (1797,), digits 0..9 (about 180 each)
    """
    for name, value in (("as_images", as_images), ("scale", scale)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    table = _load_csv_gz(bundled_path("digits.csv.gz", data_dir), delimiter=",")
    if table.shape != (1797, 65):
        raise ValueError(f"digits.csv.gz must hold 1797 rows of 65 values, got {table.shape}")
    X = table[:, :64].astype(dtype)
    y = table[:, 64].astype(np.int64)
    if scale:
        X /= dtype.type(16)
    if as_images:
        X = X.reshape(-1, 1, 8, 8)
    return X, y


# ---------------------------------------------------------------- IDX files (MNIST)


# IDX type codes (third magic byte) -> big-endian NumPy dtype, from the format's definition on
# Y. LeCun's MNIST page.
def load_prostate(standardize=True, data_dir=None):
    """The prostate cancer data of Stamey et al. (1989), as used in ESL chapter 3.

    Returns ``(X, y, train)``: X (97, 8) float64 with the columns ``PROSTATE_FEATURES``, y the
    log PSA (``lpsa``), and ``train`` a boolean mask of the 67 training rows of ESL's split.

    ``standardize=True`` scales X as the ESL data page prescribes before Table 3.1 and beyond:
    every column centred and divided by its standard deviation (ddof=1) over all 97 rows, as R's
    ``scale(x, TRUE, TRUE)`` does.
    """
    path = bundled_path("prostate.data", data_dir)
    try:
        table = np.loadtxt(path, skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"could not parse {path} as the ESL prostate table: {exc}") from None
    if table.shape != (97, 11):
        raise ValueError(
            f"{path}: expected a 97 x 11 table (id, 8 features, lpsa, train), "
            f"got shape {table.shape}"
        )
    X, y, train = table[:, 1:9], table[:, 9], table[:, 10] == 1
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    return X, y, train


IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into a native-order array.

    Layout: a 4-byte magic ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian int32
    dimensions, then the values big-endian in C order. Type codes: 0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. A file starting with the gzip magic
    ``1f 8b`` is decompressed first, whatever its name.

    Every check fails with a ``ValueError`` naming the file, what was expected and what was
    found: a bad gzip stream, a wrong magic, an unknown type code, a header cut short, or a data
    length that differs from the product of the dimensions (truncated or trailing bytes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: expected a 4-byte IDX magic number, found {len(raw)} bytes")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: expected IDX magic starting 0x00 0x00, found 0x{raw[0]:02x} 0x{raw[1]:02x}"
            " (not an IDX file)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: expected an IDX type code in {{{known}}}, found 0x{code:02X}")
    if ndim == 0:
        raise ValueError(f"{path}: expected at least 1 dimension in the IDX header, found 0")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: expected a {header}-byte header for {ndim} dimensions, "
            f"found {len(raw)} bytes (truncated)"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: expected non-negative dimensions, found {shape}")
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "trailing bytes"
        raise ValueError(
            f"{path}: expected {expected} bytes of data for shape {shape} "
            f"({dtype.newbyteorder('=').name}), found {found} ({what})"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, a writable copy


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    The inverse of ``read_idx``. The file is written to a temporary name and renamed, so an
    interrupted write never leaves half a file.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_DTYPES.items()}
    key = array.dtype.str[1:]
    if key not in codes:
        raise TypeError(
            "array must have dtype uint8, int8, int16, int32, float32 or float64, "
            f"got {array.dtype}"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    body = bytes([0, 0, codes[key], array.ndim])
    body += np.asarray(array.shape, dtype=">i4").tobytes()
    body += np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[key]]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)
    return path


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_mnist_file(folder, stem):
    """First existing spelling of ``stem`` in ``folder``: as is, ``.gz``, '.' before ``idx``."""
    dotted = stem.replace("-idx", ".idx")
    candidates = [stem, stem + ".gz", dotted, dotted + ".gz"]
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"MNIST file {stem!r} not found in {folder}; expected one of {candidates} "
        f"(the standard names from yann.lecun.com/exdb/mnist)"
    )


def load_mnist(path=None, kind="t10k", scale=True, dtype=np.float32, data_dir=None):
    """MNIST images and labels from IDX files, channels first.

    Parameters
    ----------
    path : str or Path, optional
        A folder holding the standard files of ``kind`` (``train-images-idx3-ubyte`` and
        ``train-labels-idx1-ubyte``, or the ``t10k-`` pair; each raw or ``.gz``). ``None``
        reads the bundled 10,000-image test set, after checking its SHA-256.
    kind : ``'train'``, ``'t10k'`` or ``'test'`` (same as ``'t10k'``)
    scale : bool
        True: pixels divided by 255, in [0, 1]. False: 0..255 as stored.
    dtype : float32 or float64

    Returns
    -------
    X : ndarray of ``dtype``, shape (N, 1, 28, 28)
    y : ndarray, int64, shape (N,), digits 0..9
    """
    if kind == "test":
        kind = "t10k"
    if kind not in MNIST_FILES:
        raise ValueError(f"kind must be 'train', 't10k' or 'test', got {kind!r}")
    if not isinstance(scale, bool):
        raise TypeError(f"scale must be True or False, got {scale!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    images_stem, labels_stem = MNIST_FILES[kind]
    if path is None:
        if kind == "train":
            raise FileNotFoundError(
                "the 60,000-image MNIST training set is not bundled; pass path= to a folder "
                f"holding {images_stem}[.gz] and {labels_stem}[.gz]"
            )
        images_file = bundled_path(f"mnist/{images_stem}.gz", data_dir)
        labels_file = bundled_path(f"mnist/{labels_stem}.gz", data_dir)
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"path must be a folder holding {images_stem}[.gz] and {labels_stem}[.gz], "
                f"got {folder} (not a directory)"
            )
        images_file = _find_mnist_file(folder, images_stem)
        labels_file = _find_mnist_file(folder, labels_stem)
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{images_file}: expected uint8 images of shape (N, H, W), "
            f"found {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{labels_file}: expected {images.shape[0]} uint8 labels, "
            f"found {labels.dtype} of shape {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_file}: expected labels 0..9, found {labels.max()}")
    X = images[:, None].astype(dtype)
    if scale:
        X /= dtype.type(255)
    return X, labels.astype(np.int64)


def load_mnist_t10k_split(n_train=8000, seed=0, scale=True, dtype=np.float32, data_dir=None):
    """The bundled MNIST test set split into a training and a test part, reproducibly.

    The 10,000 indices are shuffled by ``numpy.random.default_rng(seed).permutation(10000)``;
    the first ``n_train`` form the training part, the rest the test part (defaults: 8,000 /
    2,000). A permutation rather than "first 8,000 / last 2,000" because the set is not
    homogeneous: by the MNIST page, its first 5,000 images come from the original NIST training
    set (SD-3, Census Bureau employees) and are "cleaner and easier" than the last 5,000 (NIST
    test set, SD-1, students), so a head/tail cut would test on the harder writers only.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : float ``dtype`` (N, 1, 28, 28) and int64 (N,)
    """
    n_train = check_positive_int(n_train, "n_train")
    if n_train >= 10000:
        raise ValueError(f"n_train must be < 10000 (the set has 10,000 images), got {n_train}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    X, y = load_mnist(None, "t10k", scale=scale, dtype=dtype, data_dir=data_dir)
    order = np.random.default_rng(int(seed)).permutation(len(y))
    train, test = order[:n_train], order[n_train:]
    return (X[train], y[train]), (X[test], y[test])


# The generators live in minidl/synthetic.py; imported last because they use load_digits.
from minidl.synthetic import (  # noqa: E402
    MOTION_DIRECTIONS,
    SIGNAL_CLASSES,
    make_moving_digits,
    make_signals_1d,
)

__all__ = [
    "MOTION_DIRECTIONS",
    "SIGNAL_CLASSES",
    "load_diabetes",
    "load_digits",
    "load_mnist",
    "load_mnist_t10k_split",
    "load_prostate",
    "make_moving_digits",
    "make_signals_1d",
    "read_idx",
    "write_idx",
]
