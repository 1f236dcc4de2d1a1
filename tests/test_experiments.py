"""Reference experiments (issue 4, section 3): real networks trained on the bundled data.

Each test trains a minidl network from a fixed seed and asserts an accuracy it must reach on
held-out data, so a wrong gradient, optimizer or data pipeline fails here even if every unit
test passes. All use float32, Adam and a cosine learning-rate decay over the run (which makes
the last epoch's accuracy stable rather than the luck of the last batch).

- MNIST: the 10,000 bundled t10k images split 8,000 / 2,000 (seed 0). Article 003's CNN and
  LeNet-5 reach >= 97%, article 000's CNN >= 96.5% (a logistic regression gets ~90% on this
  split, so these need the convolutions to work).
- 8x8 digits: 1,437 / 360 (permutation with seed 0), made 28x28 by bilinear resizing
  (``minidl.datasets.transforms.digits_to_28(x, 'resize')``), so the MNIST networks run unchanged.
- Moving digits: the direction (right, left, down, up) of a glyph sliding across 8 frames of
  16x16. Conv3D and (2+1)-D networks reach >= 95%; the same network made 2-D and shown the
  time-averaged frame stays below 60%, because "left" and "right" (and "up" and "down") have
  the same average. It still learns the axis of motion (> 90% horizontal vs vertical), so the
  failure is the missing time axis, not a network that did not train.
"""

import numpy as np
import pytest

from minidl.datasets import load_digits, load_mnist_t10k_split, make_moving_digits
from minidl.datasets.transforms import digits_to_28
from minidl.nn import zoo
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam, CosineAnnealingLR

pytestmark = pytest.mark.slow


def train_and_score(model, train, test, epochs, lr, batch_size=32, seed=1):
    opt = Adam(lr)
    model.fit(
        *train, epochs=epochs, batch_size=batch_size, optimizer=opt, loss=CrossEntropyLoss(),
        scheduler=CosineAnnealingLR(opt, epochs), rng=np.random.default_rng(seed), verbose=False,
    )  # fmt: skip
    pred = np.argmax(model.predict(test[0]), axis=1)
    acc = float(np.mean(pred == test[1]))
    print(f"\n{type(model[0]).__name__}-first net, {epochs} epochs: test accuracy {acc:.4f}")
    return acc, pred


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_t10k_split(8000, seed=0)


@pytest.fixture(scope="module")
def digits28():
    X, y = load_digits(scale=True)
    order = np.random.default_rng(0).permutation(len(y))
    tr, te = order[:1437], order[1437:]
    X = digits_to_28(X, "resize")
    return (X[tr], y[tr]), (X[te], y[te])


# builder, epochs, Adam learning rate, required test accuracy. Measured (seed 0, one BLAS
# thread): article 003 97.55% (97.90% with seed 1), LeNet-5 97.65% (98.25%), article 000
# 97.35%. Article 000's net has no hidden Dense layer (a linear classifier on 1,600 pooled
# features); PyTorch trains the same net to 97.3-97.9% over three seeds on this split, so its
# bar is 96.5%: 97% would sit inside the seed-to-seed spread. 8,000 training images put the
# others' ceiling near 98% too, hence margins of ~0.5-1% (10-20 of the 2,000 test images).
MNIST_RUNS = [
    (zoo.article003_cnn, 6, 1e-3, 0.97),
    (zoo.lenet5, 6, 2e-3, 0.97),
    (zoo.article000_cnn, 5, 1e-3, 0.965),
]


@pytest.mark.parametrize(
    "build,epochs,lr,required", MNIST_RUNS, ids=lambda v: getattr(v, "__name__", "")
)
def test_mnist_t10k_split_accuracy(mnist, build, epochs, lr, required):
    train, test = mnist
    acc, _ = train_and_score(build(rng=np.random.default_rng(0)), train, test, epochs, lr)
    assert acc >= required, f"{build.__name__}: test accuracy {acc:.4f} < {required}"


# measured: 99.17% for both (seed 0)
DIGITS_RUNS = [(zoo.article003_cnn, 10, 1e-3), (zoo.lenet5, 10, 2e-3)]


@pytest.mark.parametrize("build,epochs,lr", DIGITS_RUNS, ids=lambda v: getattr(v, "__name__", ""))
def test_digits_upsampled_accuracy(digits28, build, epochs, lr):
    train, test = digits28
    assert train[0].shape == (1437, 1, 28, 28) and test[0].shape == (360, 1, 28, 28)
    acc, _ = train_and_score(build(rng=np.random.default_rng(0)), train, test, epochs, lr)
    assert acc >= 0.97, f"{build.__name__}: test accuracy {acc:.4f} < 0.97"


@pytest.fixture(scope="module")
def clips():
    X, y = make_moving_digits(1200, frames=8, size=16, directions=4, rng=0)
    return (X[:800], y[:800]), (X[800:], y[800:])


# measured: Conv3D 100%, (2+1)-D 99.75%; the 2-D net on the average 51.75% (axis 100%)
@pytest.mark.parametrize("build", [zoo.conv3d_net, zoo.conv2plus1d_net], ids=["3d", "2plus1d"])
def test_spatiotemporal_nets_tell_the_direction(clips, build):
    train, test = clips
    acc, _ = train_and_score(build(rng=np.random.default_rng(0)), train, test, 8, 3e-3)
    assert acc >= 0.95, f"{build.__name__}: direction accuracy {acc:.4f} < 0.95"


def test_time_averaged_frame_cannot_tell_the_sense(clips):
    (Xtr, ytr), (Xte, yte) = clips
    train, test = (zoo.time_average(Xtr), ytr), (zoo.time_average(Xte), yte)
    model = zoo.frame_average_2d_net(rng=np.random.default_rng(0))
    acc, pred = train_and_score(model, train, test, 8, 3e-3)
    assert acc < 0.60, f"2-D net on the average frame: {acc:.4f}, expected about 0.5"
    # labels 0/1 are right/left (horizontal), 2/3 down/up (vertical): the axis is learned
    axis_acc = float(np.mean(pred // 2 == yte // 2))
    print(f"axis of motion (horizontal/vertical) accuracy {axis_acc:.4f}")
    assert axis_acc > 0.90, f"axis of motion accuracy {axis_acc:.4f}: the 2-D net did not train"
