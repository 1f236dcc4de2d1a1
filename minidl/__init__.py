"""minidl: deep learning and model compression, formula by formula, in plain NumPy.

The engine is written by hand on purpose: every forward, backward and update is the formula,
with the formula in its docstring. See ``README.md`` and ``chapters/`` for the tour.

The packages, bottom to top (a package imports only from those below it; the data and the
classical models sit beside the network stack and import neither it nor compression):

functional     pure forward/backward ops: conv, pool, dense, activations, norms, losses
layers         stateful layers over those ops, their initializers and cost formulas
nn, optim      the model (Sequential), training, losses, file format, zoo; optimizers
compression    pruning, quantization, clipping, distillation, low rank, Deep Compression
conformance    golden cases and checks that grade another implementation against minidl
linear_model   LinearRegression, Ridge, Lasso, ElasticNet, paths, model selection, sparse recovery
decomposition  PCA
datasets       the bundled data sets, MNIST's file format, toy generators, transforms

The most used names are importable from here; everything else from its package.
"""

from minidl._rng import get_rng, seed
from minidl._version import __version__
from minidl.datasets import (
    load_diabetes,
    load_digits,
    load_mnist,
    load_mnist_t10k_split,
    load_prostate,
    make_moving_digits,
    make_signals_1d,
)
from minidl.decomposition import PCA
from minidl.layers import (
    ELU,
    GELU,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    BatchNorm1D,
    BatchNorm2D,
    BatchNorm3D,
    Conv1D,
    Conv2D,
    Conv2Plus1D,
    Conv3D,
    ConvTranspose1D,
    ConvTranspose2D,
    ConvTranspose3D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GroupNorm,
    LayerNorm,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from minidl.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from minidl.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, Sequential
from minidl.optim import SGD, Adam, AdamW, CosineAnnealingLR, StepLR, gradient_descent


def save(model, path):
    """Write ``model`` (a :class:`Sequential`) to ``path``: architecture and state, atomically.

    The same as ``model.save(path)``; :func:`load` reads it back.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
    model.save(path)


def load(path):
    """The :class:`Sequential` saved in ``path`` by :func:`save` (``Sequential.load(path)``)."""
    return Sequential.load(path)


__all__ = [
    "Adam",
    "AdamW",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BCEWithLogitsLoss",
    "BatchNorm1D",
    "BatchNorm2D",
    "BatchNorm3D",
    "Conv1D",
    "Conv2D",
    "Conv2Plus1D",
    "Conv3D",
    "ConvTranspose1D",
    "ConvTranspose2D",
    "ConvTranspose3D",
    "CosineAnnealingLR",
    "CrossEntropyLoss",
    "Dense",
    "Dropout",
    "ELU",
    "ElasticNet",
    "Flatten",
    "GELU",
    "GlobalAvgPool",
    "GroupNorm",
    "Lasso",
    "LayerNorm",
    "LeakyReLU",
    "LinearRegression",
    "MSELoss",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "PCA",
    "ReLU",
    "Ridge",
    "SGD",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StepLR",
    "Tanh",
    "__version__",
    "get_rng",
    "gradient_descent",
    "load",
    "load_diabetes",
    "load_digits",
    "load_mnist",
    "load_mnist_t10k_split",
    "load_prostate",
    "make_moving_digits",
    "make_signals_1d",
    "save",
    "seed",
]
