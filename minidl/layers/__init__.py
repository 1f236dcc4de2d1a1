"""Stateful layers: params/grads dicts in PyTorch layouts, a cache, train()/eval().

Names follow the Keras names the source articles use; constructor arguments follow PyTorch.
"""

from minidl.layers.activations import (
    ELU,
    GELU,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from minidl.layers.base import LAYERS, Cost, Layer
from minidl.layers.batchnorm import BatchNorm, BatchNorm1D, BatchNorm2D, BatchNorm3D
from minidl.layers.conv import Conv1D, Conv2D, Conv2Plus1D, Conv3D, ConvND
from minidl.layers.conv_transpose import (
    ConvTranspose1D,
    ConvTranspose2D,
    ConvTranspose3D,
    ConvTransposeND,
)
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.layers.normalization import GroupNorm, LayerNorm
from minidl.layers.pool import (
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAvgPool,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    Pool,
)
from minidl.layers.reshape import Flatten

__all__ = [
    "LAYERS",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNorm",
    "BatchNorm1D",
    "BatchNorm2D",
    "BatchNorm3D",
    "Conv1D",
    "Conv2D",
    "Conv2Plus1D",
    "Conv3D",
    "ConvND",
    "ConvTranspose1D",
    "ConvTranspose2D",
    "ConvTranspose3D",
    "ConvTransposeND",
    "Cost",
    "Dense",
    "Dropout",
    "ELU",
    "Flatten",
    "GELU",
    "GlobalAvgPool",
    "GroupNorm",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "Pool",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]
