"""The bundled tables: diabetes (LARS paper), ESL's prostate data and the 8x8 digits."""

import gzip

import numpy as np

from minidl.datasets.bundled import bundled_path

PROSTATE_FEATURES = ("lcavol", "lweight", "age", "lbph", "svi", "lcp", "gleason", "pgg45")
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


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
