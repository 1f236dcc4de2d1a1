"""The data: bundled data sets, MNIST's file format, seeded toy generators and image transforms.

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

Modules (each loader is importable from here):

- :mod:`~minidl.datasets.bundled`: where the bundled files are, and the SHA-256 each must have.
- :mod:`~minidl.datasets.tabular`: the diabetes, prostate and 8x8 digits tables.
- :mod:`~minidl.datasets.mnist`: MNIST's loaders and its IDX file format.
- :mod:`~minidl.datasets.synthetic`: seeded toy generators (moving digits, 1-D signals).
- :mod:`~minidl.datasets.transforms`: resizing and padding images (``digits_to_28``).
"""

from minidl.datasets.bundled import CHECKSUMS, bundled_path
from minidl.datasets.mnist import load_mnist, load_mnist_t10k_split, read_idx, write_idx
from minidl.datasets.synthetic import (
    MOTION_DIRECTIONS,
    SIGNAL_CLASSES,
    make_moving_digits,
    make_signals_1d,
)
from minidl.datasets.tabular import (
    DIABETES_FEATURES,
    PROSTATE_FEATURES,
    load_diabetes,
    load_digits,
    load_prostate,
)

__all__ = [
    "CHECKSUMS",
    "DIABETES_FEATURES",
    "MOTION_DIRECTIONS",
    "PROSTATE_FEATURES",
    "SIGNAL_CLASSES",
    "bundled_path",
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
