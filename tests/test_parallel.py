"""DataParallel: the parts of a batch on threads give the model's own forward, backward and
training, up to the order of the additions; refused where splitting would change the result."""

import threading

import numpy as np
import pytest
from parallel_cases import small_cnn, step

from minidl.compression.qat import FakeQuantize, FakeQuantWeight
from minidl.functional import _threads
from minidl.layers.base import Layer
from minidl.layers.batchnorm import BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.nn import DataParallel, Sequential, conv2plus1d_net, lenet5, parallel, summary
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam

# float64 throughout: the parts' sums differ from the whole batch's only by rounding, ~1e-16
# relative per addition; 1e-12 leaves room for the GEMMs' other blocking of a part.
RTOL = 1e-12


@pytest.fixture
def two_threads(monkeypatch):
    """Two threads whatever the machine (one core, OPENBLAS_NUM_THREADS=1 in CI's reruns)."""
    monkeypatch.setattr(_threads, "WORKERS", 2)


@pytest.mark.parametrize("parts", [2, 3, 7])
@pytest.mark.parametrize("input_grad", [True, False])
def test_parts_give_the_models_gradients(two_threads, parts, input_grad):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 2, 8, 8)), rng.integers(5, size=7)
    loss, dx, grads = step(small_cnn(), x, y, input_grad)
    dp = DataParallel(small_cnn(), parts=parts)
    loss_p, dx_p, grads_p = step(dp, x, y, input_grad)
    assert len(dp._replicas) == parts  # the batch was cut as asked
    np.testing.assert_allclose(loss_p, loss, rtol=RTOL)
    if input_grad:
        np.testing.assert_allclose(dx_p, dx, rtol=RTOL, atol=1e-18)
    else:
        assert dx_p is None
    for key, g in grads.items():
        np.testing.assert_allclose(grads_p[key], g, rtol=RTOL, atol=1e-18)


def test_lenet5_in_parts_and_the_same_bits_every_run(two_threads):
    rng = np.random.default_rng(3)
    x, y = rng.random((10, 1, 28, 28)), rng.integers(10, size=10)
    _, dx, grads = step(lenet5(rng=np.random.default_rng(1), dtype=np.float64), x, y, True)
    dp = DataParallel(lenet5(rng=np.random.default_rng(1), dtype=np.float64), parts=2)
    runs = [step(dp, x, y, True) for _ in range(3)]
    np.testing.assert_allclose(runs[0][1], dx, rtol=RTOL, atol=1e-18)
    for key, g in grads.items():
        np.testing.assert_allclose(runs[0][2][key], g, rtol=RTOL, atol=1e-18)
        # the parts' sums are added in the parts' order, whichever thread finished first
        assert all(np.array_equal(r[2][key], runs[0][2][key]) for r in runs[1:])


class _Recorder(Layer):
    """The identity, noting the thread it ran on and the threads its ops may use there."""

    samples_apart = True

    def __init__(self, barrier=None):
        super().__init__()
        self.seen, self.barrier = [], barrier

    def forward(self, x):
        self.seen.append((threading.get_ident(), _threads.count(), _threads.held()))
        if self.barrier is not None:
            self.barrier.wait()  # the other part must be running at the same time
        return x

    def backward(self, dy):
        return dy

    def cost(self, input_shape, dtype=np.float32):
        raise TypeError("no cost rule")  # the work cannot be counted: parts as asked


def test_parts_run_on_threads_each_alone(two_threads):
    # its copies share the list (one entry per part) and the barrier, which breaks after 10 s
    # unless both parts reach it: they run side by side, not one after the other
    recorder = _Recorder(threading.Barrier(2, timeout=10))
    dp = DataParallel(Sequential([recorder]), parts=2)
    dp(np.zeros((4, 3)))
    threads = {ident for ident, _, _ in recorder.seen}
    assert len(recorder.seen) == 2 and len(threads) == 2
    # inside a part an op never hands work to the (busy) pool: one thread, nested loops inline
    assert all(workers == 1 for _, workers, _ in recorder.seen)
    assert _threads.count() == 2  # and outside, the setting is back


def test_default_parts_only_where_a_part_has_the_work(two_threads, monkeypatch):
    x = np.zeros((32, 1, 28, 28), np.float32)
    dp = DataParallel(lenet5())
    dp(x)  # LeNet-5: 0.42 M multiply-adds a sample, 6.7 M for half of 32: one part
    assert len(dp._replicas) == 1
    per_sample = summary(lenet5(), (1, 1, 28, 28)).total_macs
    monkeypatch.setattr(parallel, "MIN_PART_MACS", 16 * per_sample)
    dp(x)
    assert len(dp._replicas) == 2
    one = DataParallel(lenet5())
    monkeypatch.setattr(_threads, "WORKERS", 1)
    one(x)
    assert len(one._replicas) == 1  # one thread: the model as it is


def test_a_replaced_layer_gets_gradient_arrays_of_its_shape(two_threads):
    dp = DataParallel(Sequential([Dense(3, 2, dtype=np.float64)]), parts=2)
    step(dp, np.ones((4, 3)), np.zeros(4, int), True)
    dp.model.layers[0] = Dense(3, 5, rng=0, dtype=np.float64)  # e.g. a wider layer put in
    x, y = np.random.default_rng(0).standard_normal((4, 3)), np.arange(4)
    _, _, grads = step(dp, x, y, True)
    _, _, expected = step(dp.model, x, y, True)
    for key, g in expected.items():
        np.testing.assert_allclose(grads[key], g, rtol=RTOL, atol=1e-18)


def test_an_empty_batch_runs_as_in_the_model(two_threads):
    dp = DataParallel(Sequential([Dense(3, 2)]), parts=2)
    assert dp(np.zeros((0, 3), np.float32)).shape == (0, 2)
    assert dp.backward(np.zeros((0, 2), np.float32)).shape == (0, 3)


def test_a_custom_layer_without_cost_is_split(two_threads):
    recorder = _Recorder()
    DataParallel(Sequential([recorder]))(np.zeros((2, 3)))
    assert len(recorder.seen) == 2


def test_fit_in_parts_trains_as_the_model(two_threads, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PART_MACS", 1)  # split every batch
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((24, 2, 8, 8)), rng.integers(5, size=24)
    plain, split = small_cnn(), small_cnn()
    dp = DataParallel(split)
    for model in (plain, dp):
        model.fit(X, y, 2, 8, Adam(1e-2), CrossEntropyLoss(), rng=0, verbose=False)
    for key, p in plain.params.items():
        np.testing.assert_allclose(split.params[key], p, rtol=1e-10)  # the model's own arrays
    assert dp.params["0.weight"] is split.params["0.weight"]
    np.testing.assert_allclose(dp.predict(X), plain.predict(X), rtol=1e-10)
    assert dp.evaluate(X, y)[1] == plain.evaluate(X, y)[1]


def test_layers_that_mix_the_samples_are_refused_in_training(two_threads):
    rng = np.random.default_rng(0)
    bn = Sequential([Conv2D(1, 2, 3, rng=rng), BatchNorm2D(2)])
    x = np.zeros((4, 1, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"model.layers\[1\] \(BatchNorm2D\) mixes the samples"):
        DataParallel(bn, parts=2)(x)
    DataParallel(bn.eval(), parts=2)(x)  # running statistics: each sample alone
    with pytest.raises(ValueError, match=r"Dropout"):
        DataParallel(Sequential([Dropout(0.5)]), parts=2)(np.zeros((4, 3)))
    DataParallel(bn.train(), parts=1)(x)  # one part: nothing is split


def test_bad_arguments_are_named(two_threads):
    with pytest.raises(TypeError, match="model must be a minidl Sequential"):
        DataParallel([Dense(2, 2)])
    with pytest.raises(ValueError, match="parts must be a positive int"):
        DataParallel(small_cnn(), parts=0)
    with pytest.raises(TypeError, match=r"model.layers\[0\] \(Conv2Plus1D\) is made of other"):
        DataParallel(conv2plus1d_net())
    with pytest.raises(TypeError, match=r"\(FakeQuantWeight\) is made of other layers"):
        DataParallel(Sequential([FakeQuantWeight(Dense(2, 2))]))
    with pytest.raises(ValueError, match=r"\(FakeQuantize\) mixes the samples"):  # its observer
        DataParallel(Sequential([FakeQuantize()]), parts=2)(np.zeros((4, 2)))
    dp = DataParallel(small_cnn(), parts=2)
    dp(np.zeros((4, 2, 8, 8)))
    with pytest.raises(ValueError, match="dy must have the last forward's batch of 4 rows"):
        dp.backward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="x must have a batch axis"):
        dp(np.float64(1.0))
