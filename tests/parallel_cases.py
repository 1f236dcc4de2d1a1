"""What the tests of DataParallel and ProcessDataParallel share: a small CNN and one step."""

import numpy as np

from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn import Sequential
from minidl.nn.losses import CrossEntropyLoss


def small_cnn(seed=1, dtype=np.float64):
    """Conv 2 -> 4 (3x3, same), ReLU, 2x2 max pool, Dense 64 -> 5, for 2 x 8 x 8 inputs."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(2, 4, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(4 * 4 * 4, 5, rng=rng, dtype=dtype),
    ])  # fmt: skip


def step(model, x, y, input_grad):
    """One forward, cross-entropy and backward: ``(loss, dx, a copy of every gradient)``."""
    crit = CrossEntropyLoss()
    loss = crit(model(x), y)
    dx = model.backward(crit.backward(), input_grad=input_grad)
    return loss, dx, {k: g.copy() for k, g in model.grads.items()}
