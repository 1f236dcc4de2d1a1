"""MNIST: the IDX file format (reader and writer) and the MNIST loaders.

IDX is the format of Y. LeCun's MNIST files: a 4-byte magic ``0x00 0x00 <type code> <ndim>``,
``ndim`` big-endian int32 dimensions, then the values big-endian in C order. ``read_idx`` checks
every part of it and names the file and what it found when something is wrong; ``write_idx``
writes it (the tests build their own IDX files with it, valid and broken).

``load_mnist`` reads a user's own copy of MNIST (``train`` or ``t10k``, raw or gzipped), or
the bundled 10,000-image test set after checking its SHA-256 (see :mod:`minidl.datasets`);
``load_mnist_t10k_split`` cuts the bundled set into the reproducible 8,000 / 2,000 split the
reference experiments use. All are re-exported by :mod:`minidl.datasets`.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from minidl._validation import check_positive_int
from minidl.atomic import atomic_write
from minidl.datasets.bundled import bundled_path

# IDX type codes (third magic byte) -> big-endian NumPy dtype, from the format's definition on
# Y. LeCun's MNIST page.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_GZIP_RATIO = 1032  # deflate's largest expansion (258 bytes from one 2-bit code, ~1032:1)


def read_idx(path):
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into a native-order array.

    Layout: a 4-byte magic ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian int32
    dimensions, then the values big-endian in C order. Type codes: 0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. A file starting with the gzip magic
    ``1f 8b`` is decompressed first, whatever its name.

    Every check fails with a ``ValueError`` naming the file, what was expected and what was
    found: a folder, a bad gzip stream, a wrong magic, an unknown type code, a header cut
    short, or a data length that differs from the product of the dimensions (truncated or
    trailing bytes). The header is read first and the data length it implies is checked
    against the file's size before anything is allocated (for gzip, against what deflate can
    expand the file to: at most 1032:1); decompression stops one byte past that length, so a
    small file never costs more than the array it declares.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not an IDX file")
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            return _read_idx_stream(stream, path, size, gzipped)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from None


def _read_idx_stream(f, path, size, gzipped):
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: expected a 4-byte IDX magic number, found {len(magic)} bytes")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(
            f"{path}: expected IDX magic starting 0x00 0x00, found 0x{magic[0]:02x} "
            f"0x{magic[1]:02x} (not an IDX file)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: expected an IDX type code in {{{known}}}, found 0x{code:02X}")
    if ndim == 0:
        raise ValueError(f"{path}: expected at least 1 dimension in the IDX header, found 0")
    dims = f.read(4 * ndim)
    header = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: expected a {header}-byte header for {ndim} dimensions, "
            f"found {4 + len(dims)} bytes (truncated)"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">i4"))
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: expected non-negative dimensions, found {shape}")
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no int64 overflow
    what = f"{expected} bytes of data for shape {shape} ({dtype.newbyteorder('=').name})"
    if not gzipped and size - header != expected:
        found = size - header
        kind = "truncated" if found < expected else "trailing bytes"
        raise ValueError(f"{path}: expected {what}, found {found} ({kind})")
    if gzipped and expected > MAX_GZIP_RATIO * size:
        raise ValueError(
            f"{path}: expected {what}, more than a {size}-byte gzip file can hold "
            f"(deflate expands at most {MAX_GZIP_RATIO}:1)"
        )
    data = np.empty(expected, dtype=np.uint8)
    found = _read_into(f, memoryview(data))
    if found < expected:
        raise ValueError(f"{path}: expected {what}, found {found} (truncated)")
    if f.read(1):  # one byte past the end, no more: trailing data is refused, not read
        raise ValueError(f"{path}: expected {what}, found more (trailing bytes)")
    array = data.view(dtype).reshape(shape)
    native = dtype.newbyteorder("=")
    if native != dtype:  # swap in place rather than copy: the array is the only big buffer
        array = array.byteswap(inplace=True).view(native)
    return array


def _read_into(f, buffer):
    """Fill ``buffer`` from ``f``; the number of bytes read (fewer only at the end of data)."""
    done = 0
    while done < len(buffer):
        n = f.readinto(buffer[done:])
        if not n:
            break
        done += n
    return done


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    The inverse of ``read_idx``. Written atomically (:func:`minidl.atomic.atomic_write`): an
    interrupted write never leaves half a file, and concurrent writers never share a
    temporary file.
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
    if any(d > 2**31 - 1 for d in array.shape):
        raise ValueError(f"array dimensions must fit in int32 (IDX header), got {array.shape}")
    body = bytes([0, 0, codes[key], array.ndim])
    body += np.asarray(array.shape, dtype=">i4").tobytes()
    body += np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[key]]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    atomic_write(path, lambda f: f.write(body))
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
