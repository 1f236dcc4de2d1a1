"""Dense-heavy steps at two threads, the round that let large dense products keep BLAS's threads.

    python benchmarks/results/2026-12-05-intel-s25/dense_steps.py     # PYTHONPATH=<base> for before

Prints three best-of times in ms: the dense layer 256 x 784 -> 512 alone (functional forward +
backward), an MLP 784-1024-1024-10 training step at batch 256 (Adam), and a CNN step at batch 64
with a 6272 -> 1024 dense layer after one 3x3 conv and a 2x2 max pool.
"""

import time

import numpy as np

import minidl.layers as L
from minidl.functional.dense import dense_backward, dense_forward
from minidl.nn import Sequential
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam

rng = np.random.default_rng(0)


def best(f, n=30):
    f(), f()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def training_step(model, x, y):
    crit, opt = CrossEntropyLoss(), Adam(1e-3)

    def step():
        crit(model(x), y)
        model.backward(crit.backward(), input_grad=False)
        opt.step(model.params, model.grads)

    return step


x = rng.standard_normal((256, 784), dtype=np.float32)
w = rng.standard_normal((512, 784), dtype=np.float32)
b = rng.standard_normal(512, dtype=np.float32)
dy = rng.standard_normal((256, 512), dtype=np.float32)


def dense_step():
    dense_backward(dy, dense_forward(x, w, b)[1])


mlp = Sequential([L.Dense(784, 1024, rng=rng), L.ReLU(), L.Dense(1024, 1024, rng=rng), L.ReLU(),
                  L.Dense(1024, 10, rng=rng)])  # fmt: skip
cnn = Sequential([L.Conv2D(1, 32, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
                  L.Dense(32 * 14 * 14, 1024, rng=rng), L.ReLU(),
                  L.Dense(1024, 10, rng=rng)])  # fmt: skip
x_mlp, y_mlp = rng.random((256, 784), dtype=np.float32), rng.integers(10, size=256)
x_cnn, y_cnn = rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(10, size=64)
mlp_step, cnn_step = training_step(mlp, x_mlp, y_mlp), training_step(cnn, x_cnn, y_cnn)
print(f"{best(dense_step):7.2f} {best(mlp_step):7.2f} {best(cnn_step, 20):7.2f}")
