"""Bundled data sets, their checksums, and (re-exported) MNIST and seeded toy generators.

Every file the loaders read ships in the repository's ``datasets/`` folder, so a clone works
offline; ``datasets/README.md`` names each file's origin, licence, size and SHA-256. A loader
verifies the SHA-256 before parsing, so a damaged or replaced file fails with an error naming
the file instead of training on wrong data.

The folder is found inside the installed package (``minidl/_datasets``: a wheel maps
``datasets/`` there at build time) or next to the package (``<repo>/datasets``, where a clone
or an editable install has it); set the environment variable ``MINIDL_DATASETS`` or pass
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

MNIST's loaders and the IDX file format (``read_idx`` / ``write_idx``) are in
:mod:`minidl.mnist`, the generators in :mod:`minidl.synthetic`; both are importable from here.
"""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

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
    """The folder of bundled files: ``data_dir``, else ``$MINIDL_DATASETS``, else the copy
    inside an installed wheel (``minidl/_datasets``), else the repository's ``datasets/``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("MINIDL_DATASETS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    installed = package / "_datasets"
    return installed if installed.is_dir() else package.parent / "datasets"


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


# MNIST (the IDX format and its loaders) lives in minidl/mnist.py, the generators in
# minidl/synthetic.py; both are imported last because they use the helpers above.
from minidl.mnist import (  # noqa: E402
    load_mnist,
    load_mnist_t10k_split,
    read_idx,
    write_idx,
)
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
