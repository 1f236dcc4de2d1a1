"""The bundled data files: where they are found and the SHA-256 each must have.

Every file the loaders read ships in the repository's ``datasets/`` folder, so a clone works
offline; ``datasets/README.md`` names each file's origin, licence, size and SHA-256. A loader
asks :func:`bundled_path` for a file, which verifies the SHA-256 before anything parses it, so
a damaged or replaced file fails with an error naming the file instead of training on wrong data.

The folder is found inside the installed package (``minidl/_datasets``: a wheel maps
``datasets/`` there at build time) or next to the package (``<repo>/datasets``, where a clone
or an editable install has it); set the environment variable ``MINIDL_DATASETS`` or pass
``data_dir=`` to read it from elsewhere.
"""


import hashlib
import os
from pathlib import Path

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



def datasets_dir(data_dir=None):
    """The folder of bundled files: ``data_dir``, else ``$MINIDL_DATASETS``, else the copy
    inside an installed wheel (``minidl/_datasets``), else the repository's ``datasets/``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("MINIDL_DATASETS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # minidl/
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
