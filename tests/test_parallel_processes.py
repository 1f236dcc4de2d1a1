"""ProcessDataParallel: the parts of a batch on worker processes give DataParallel's numbers bit
for bit (and so the model's, up to the order of the additions); the workers see every update of
the parameters, run side by side, and stop when told."""

import multiprocessing
import os
import sys

import numpy as np
import pytest
from parallel_cases import small_cnn, step

from minidl.functional import _threads
from minidl.layers.base import Layer
from minidl.layers.batchnorm import BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn import (
    DataParallel,
    ProcessDataParallel,
    Sequential,
    conv2plus1d_net,
    lenet5,
    parallel_processes,
    summary,
)
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or sys.platform == "darwin", reason="forks worker processes"
)

# float64: the parts' sums differ from the whole batch's only by rounding (test_parallel.py)
RTOL = 1e-12


@pytest.fixture
def two_threads(monkeypatch):
    """DataParallel's parts really on two threads, whatever the machine."""
    monkeypatch.setattr(_threads, "WORKERS", 2)


def batch(n=7, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 8, 8)).astype(dtype), rng.integers(5, size=n)


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_as_data_parallel(two_threads, parts, input_grad, dtype):
    x, y = batch(dtype=dtype)
    want = step(DataParallel(small_cnn(dtype=dtype), parts=parts), x, y, input_grad)
    with ProcessDataParallel(small_cnn(dtype=dtype), parts=parts) as pdp:
        got = step(pdp, x, y, input_grad)
        assert len(pdp._workers) == parts - 1  # the batch was cut as asked
    assert got[0] == want[0]
    if input_grad:
        np.testing.assert_array_equal(got[1], want[1])
    else:
        assert got[1] is None
    for key in want[2]:
        np.testing.assert_array_equal(got[2][key], want[2][key], err_msg=key)


def test_gives_the_models_gradients():
    x, y = batch()
    loss, dx, grads = step(small_cnn(), x, y, True)
    with ProcessDataParallel(small_cnn(), parts=3) as pdp:
        loss_p, dx_p, grads_p = step(pdp, x, y, True)
    np.testing.assert_allclose(loss_p, loss, rtol=RTOL)
    np.testing.assert_allclose(dx_p, dx, rtol=RTOL, atol=1e-18)
    for key in grads:
        np.testing.assert_allclose(grads_p[key], grads[key], rtol=RTOL, atol=1e-18, err_msg=key)


def test_training_sees_every_update(two_threads):
    """Adam updates the model's arrays in place, here; the workers compute with them at the
    next step only if they share them: three epochs end on DataParallel's parameters."""
    x, y = batch(24)
    want = DataParallel(small_cnn(), parts=2)
    want.fit(x, y, 3, 8, Adam(0.01), CrossEntropyLoss(), rng=0, verbose=False)
    with ProcessDataParallel(small_cnn(), parts=2) as pdp:
        pdp.fit(x, y, 3, 8, Adam(0.01), CrossEntropyLoss(), rng=0, verbose=False)
    for key, value in want.params.items():
        np.testing.assert_array_equal(pdp.params[key], value, err_msg=key)
    assert not np.array_equal(want.params["4.weight"], small_cnn().params["4.weight"])


def test_replaced_arrays_and_layers_reach_the_workers():
    x, y = batch()
    model = small_cnn()
    with ProcessDataParallel(model, parts=2) as pdp:
        step(pdp, x, y, False)
        first = pdp._workers[0].process
        # an array swapped for another (not written in place), then a layer replaced
        model.layers[0].params["weight"] = np.full_like(model.layers[0].params["weight"], 0.1)
        got = step(pdp, x, y, True)
        assert pdp._workers[0].process is not first  # started afresh
        model.layers[4] = Dense(64, 5, rng=np.random.default_rng(7), dtype=np.float64)
        got_layer = step(pdp, x, y, True)
    plain = small_cnn()
    plain.layers[0].params["weight"] = np.full_like(plain.layers[0].params["weight"], 0.1)
    want = step(plain, x, y, True)
    plain.layers[4] = Dense(64, 5, rng=np.random.default_rng(7), dtype=np.float64)
    want_layer = step(plain, x, y, True)
    for g, w in ((got, want), (got_layer, want_layer)):
        np.testing.assert_allclose(g[1], w[1], rtol=RTOL, atol=1e-18)
        for key in w[2]:
            np.testing.assert_allclose(g[2][key], w[2][key], rtol=RTOL, atol=1e-18)


def test_arrays_larger_than_the_slots_go_through_the_pipe(monkeypatch):
    """x's parts fit the first slots (64 bytes), y's and dy's (4 x 300 values) do not: they are
    pickled through the pipe, and the next forward starts workers whose slots fit them."""
    monkeypatch.setattr(parallel_processes, "MIN_SLOT_BYTES", 64)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 2)), rng.integers(300, size=8)

    def wide():
        return Sequential([Dense(2, 300, rng=np.random.default_rng(1), dtype=np.float64)])

    want = step(wide(), x, y, True)
    with ProcessDataParallel(wide(), parts=2) as pdp:
        got = step(pdp, x, y, True)
        assert pdp._slot_bytes == 64
        got_again = step(pdp, x, y, True)
        assert pdp._slot_bytes >= 4 * 300 * 8
    for g in (got, got_again):
        np.testing.assert_allclose(g[1], want[1], rtol=RTOL, atol=1e-18)
        for key in want[2]:
            np.testing.assert_allclose(g[2][key], want[2][key], rtol=RTOL, atol=1e-18)


class Identity(Layer):
    """The identity; the probes below add what their forward does besides."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class MeetAtBarrier(Identity):
    """The identity, after every part has reached a barrier shared with the workers: the
    forward fails (the barrier times out) unless the parts run side by side."""

    def __init__(self, barrier):
        super().__init__()
        self.barrier = barrier

    def forward(self, x):
        self.barrier.wait()
        return x


def test_parts_run_side_by_side():
    barrier = multiprocessing.get_context("fork").Barrier(2, timeout=20)
    model = Sequential([MeetAtBarrier(barrier), Flatten()])
    with ProcessDataParallel(model, parts=2) as pdp:
        out = pdp(np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(out, np.arange(8.0).reshape(4, 2))


class FailOnNegative(Identity):
    def forward(self, x):
        if (x < 0).any():
            raise ValueError("FailOnNegative: a negative input")
        return x


def test_a_workers_error_is_raised_here_and_the_workers_go_on():
    model = Sequential([FailOnNegative(), Flatten()])
    with ProcessDataParallel(model, parts=2) as pdp:
        x = np.ones((4, 3))
        x[3, 0] = -1.0  # in the worker's part
        with pytest.raises(ValueError, match="a negative input"):
            pdp(x)
        np.testing.assert_array_equal(pdp(np.ones((4, 3))), np.ones((4, 3)))


class ExitInWorker(Identity):
    """The identity here; in a worker process, the process ends (exit code 3) mid-call."""

    def __init__(self):
        super().__init__()
        self.parent = os.getpid()

    def forward(self, x):
        if os.getpid() != self.parent:
            os._exit(3)
        return x


def test_a_worker_that_ended_is_named_then_replaced():
    model = Sequential([ExitInWorker(), Flatten()])
    with ProcessDataParallel(model, parts=2) as pdp:
        with pytest.raises(RuntimeError, match=r"worker process ended \(exit code 3\)"):
            pdp(np.ones((4, 3)))
        model.layers[0] = Flatten()  # the next workers start with a model that works
        np.testing.assert_array_equal(pdp(np.ones((4, 3))), np.ones((4, 3)))


def test_a_worker_killed_between_calls_is_replaced():
    x, y = batch()
    with ProcessDataParallel(small_cnn(), parts=2) as pdp:
        step(pdp, x, y, True)
        worker = pdp._workers[0].process
        worker.kill()
        worker.join()
        got = step(pdp, x, y, True)
        assert pdp._workers[0].process is not worker
    want = step(small_cnn(), x, y, True)
    np.testing.assert_allclose(got[1], want[1], rtol=RTOL, atol=1e-18)


def running(parts):
    """A wrapper whose workers have run a step, and their processes."""
    x, y = batch()
    pdp = ProcessDataParallel(small_cnn(), parts=parts)
    step(pdp, x, y, False)
    return pdp, [w.process for w in pdp._workers]


def test_close_stops_the_workers():
    x, y = batch()
    pdp, processes = running(2)
    with pdp:
        pass
    assert processes and not any(p.is_alive() for p in processes)
    step(pdp, x, y, False)  # works again, on new workers
    pdp.close()


def test_default_parts_follow_the_work(monkeypatch):
    monkeypatch.setattr(_threads, "WORKERS", 2)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    model = lenet5(rng=np.random.default_rng(0))
    per_sample = summary(model, (1, 1, 28, 28)).total_macs  # 0.42 M
    with ProcessDataParallel(model) as pdp:
        pdp(x)  # 4 samples: not worth a second process
        assert pdp._split is None
        monkeypatch.setattr(parallel_processes, "MIN_PART_MACS", 2 * per_sample)
        pdp(x)
        assert pdp._split == [(0, 2), (2, 4)]


def test_refuses_what_data_parallel_refuses():
    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(2, 3, 3, rng=rng), BatchNorm2D(3)])
    with ProcessDataParallel(model, parts=2) as pdp, pytest.raises(ValueError, match="BatchNorm2D"):
        pdp(np.zeros((4, 2, 5, 5), np.float32))
    with pytest.raises(TypeError, match="Sequential"):
        ProcessDataParallel(Dense(2, 2))
    with pytest.raises(ValueError, match="parts"):
        ProcessDataParallel(small_cnn(), parts=0)
    with pytest.raises(TypeError, match=r"\(Conv2Plus1D\) is made of other layers"):
        ProcessDataParallel(conv2plus1d_net())
    with ProcessDataParallel(small_cnn(), parts=2) as pdp:
        pdp(np.zeros((4, 2, 8, 8)))
        with pytest.raises(ValueError, match="dy must have the last forward's batch of 4 rows"):
            pdp.backward(np.zeros((3, 5)))
        with pytest.raises(ValueError, match="x must have a batch axis"):
            pdp(np.float64(1.0))


def test_eval_mode_reaches_the_workers():
    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(2, 3, 3, rng=rng, dtype=np.float64),
                        BatchNorm2D(3, dtype=np.float64)])  # fmt: skip
    model.layers[1].buffers["running_mean"][:] = [0.5, -1.0, 2.0]
    x = rng.standard_normal((6, 2, 5, 5))
    want = model.eval()(x)
    with ProcessDataParallel(model, parts=2) as pdp:
        pdp.eval()
        np.testing.assert_allclose(pdp(x), want, rtol=RTOL)


def _gone(pid):
    """Whether process ``pid`` has ended (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_end_when_their_parent_is_killed():
    """A parent killed outright (SIGKILL: no exit handler runs) leaves no worker behind."""
    import signal
    import subprocess
    import time

    script = (
        "import numpy as np\n"
        "from minidl.nn import ProcessDataParallel, Sequential\n"
        "from minidl.layers.reshape import Flatten\n"
        "pdp = ProcessDataParallel(Sequential([Flatten()]), parts=3)\n"
        "pdp(np.ones((6, 2)))\n"
        "print(*(w.process.pid for w in pdp._workers), flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10 * parallel_processes.PARENT_CHECK_SECONDS + 5
    while not all(map(_gone, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(map(_gone, pids))


class InterruptHere(Layer):
    """The identity in the workers; here, the first forward is interrupted (as by Ctrl-C)."""

    def __init__(self):
        super().__init__()
        self.parent, self.calls = os.getpid(), 0

    def forward(self, x):
        if os.getpid() == self.parent:
            self.calls += 1
            if self.calls == 1:
                raise KeyboardInterrupt
        return x * 2

    def backward(self, dy):
        return dy * 2


def test_an_interrupted_call_leaves_no_reply_behind():
    """The worker's answer to an interrupted forward is never read: the next calls must get
    their own answers, not that one."""
    model = Sequential([InterruptHere(), Flatten()])
    with ProcessDataParallel(model, parts=2) as pdp:
        with pytest.raises(KeyboardInterrupt):
            pdp(np.ones((4, 3)))
        x = np.arange(12.0).reshape(4, 3)
        np.testing.assert_array_equal(pdp(x), 2 * x)
        np.testing.assert_array_equal(pdp.backward(np.ones((4, 3))), np.full((4, 3), 2.0))


@pytest.mark.parametrize(("cpus", "polls"), [(1, False), (2, True)])
def test_polls_only_where_every_part_has_a_cpu(monkeypatch, cpus, polls):
    """Polling the pipe instead of sleeping costs a CPU: with two parts on one CPU the poll
    would take the CPU the other part needs."""
    monkeypatch.setattr(_threads, "cpus", lambda: cpus)
    x, y = batch()
    want = step(small_cnn(), x, y, True)
    with ProcessDataParallel(small_cnn(), parts=2) as pdp:
        got = step(pdp, x, y, True)
        assert (pdp._workers[0].spin > 0) == polls
    np.testing.assert_allclose(got[1], want[1], rtol=RTOL, atol=1e-18)


def test_a_collected_wrapper_stops_its_workers():
    """Without close() or a with block: once the wrapper is collected, its workers end."""
    import gc

    pdp, processes = running(3)
    del pdp
    gc.collect()
    for process in processes:
        process.join(timeout=10)
    assert len(processes) == 2 and not any(p.is_alive() for p in processes)
