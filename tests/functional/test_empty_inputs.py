"""Empty dimensions (issue 17, item 11) and the messages of the ops' odd arguments.

An empty batch (N = 0) is a batch: every op returns an empty output of the right shape and,
in the backward, an empty ``dx`` and zero parameter gradients (sums over no example), as
PyTorch does; the expected values are those sums over nothing, and where PyTorch is installed
the same calls through it. Zero channels, a zero kernel size and an empty spatial axis under a
mean are refused with a ValueError that names what is wrong.
"""

import numpy as np
import pytest

from minidl import functional as F
from minidl.functional import OPS
from minidl.layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, Flatten, MaxPool2D

CONV = {  # op: (x shape with N = 0, weight shape, keyword arguments)
    "conv1d": ((0, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
    "conv2d": ((0, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding="same", groups=2)),
    "conv3d": ((0, 2, 4, 5, 5), (3, 2, 2, 3, 3), dict(padding=1)),
}


def _tiers(op):
    tiers = [(op.forward, op.backward), (op.forward_naive, op.backward_naive)]
    if op.forward_vectorized is not None:
        tiers.append((op.forward_vectorized, op.backward_vectorized))
    return tiers


@pytest.mark.parametrize("name", sorted(CONV))
def test_conv_with_no_images_gives_empty_output_and_zero_gradients(name):
    x_shape, w_shape, kw = CONV[name]
    op = OPS[name]
    x, w, b = np.zeros(x_shape), np.ones(w_shape), np.ones(w_shape[0])
    full = op.plain(np.ones((1,) + x_shape[1:]), w, b, **kw)  # the same geometry with N = 1
    for forward, backward in _tiers(op):
        y, cache = forward(x, w, b, **kw)
        assert y.shape == (0,) + full.shape[1:] and y.dtype == x.dtype
        grads = backward(np.zeros(y.shape), cache)
        assert grads.dx.shape == x.shape
        np.testing.assert_array_equal(grads.dweight, np.zeros(w_shape))  # a sum over no image
        np.testing.assert_array_equal(grads.dbias, np.zeros(w_shape[0]))
        assert backward(np.zeros(y.shape), cache, input_grad=False).dx is None


def test_conv_with_no_images_matches_torch():
    torch = pytest.importorskip("torch")
    x_shape, w_shape, kw = CONV["conv1d"]
    w, b = np.random.default_rng(0).normal(size=w_shape), np.ones(w_shape[0])
    y, cache = F.conv1d_forward(np.zeros(x_shape), w, b, **kw)
    grads = F.conv1d_backward(np.zeros(y.shape), cache)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    tx = torch.zeros(x_shape, dtype=torch.float64, requires_grad=True)
    ty = torch.nn.functional.conv1d(tx, tw, tb, **kw)
    ty.backward(torch.zeros_like(ty))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(grads.dweight, tw.grad.numpy())
    np.testing.assert_array_equal(grads.dbias, tb.grad.numpy())


@pytest.mark.parametrize(
    ("x_shape", "w_shape"),
    [((2, 0, 5, 5), (4, 0, 3, 3)), ((2, 3, 5, 5), (0, 3, 3, 3)), ((2, 3, 5, 5), (4, 3, 0, 3))],
)
def test_conv_refuses_zero_channels_and_zero_kernels(x_shape, w_shape):
    for forward, _ in _tiers(OPS["conv2d"]):
        with pytest.raises(ValueError, match=r"kernel size must be >= 1.*weight of shape"):
            forward(np.zeros(x_shape), np.ones(w_shape))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pooling_with_no_images_and_refusing_zero_channels(name):
    op = OPS[name]
    for forward, backward in _tiers(op):
        y, cache = forward(np.zeros((0, 3, 5, 5)), 2)
        assert y.shape == (0, 3, 2, 2)
        assert backward(np.zeros(y.shape), cache).dx.shape == (0, 3, 5, 5)
        with pytest.raises(ValueError, match=r"at least 1 channel \(axis 1\), got shape \(2, 0"):
            forward(np.zeros((2, 0, 4, 4)), 2)
        with pytest.raises(ValueError, match="kernel_size must be an integer >= 1, got 0"):
            forward(np.zeros((2, 3, 4, 4)), 0)


def test_global_avg_pool_refuses_an_empty_spatial_axis_instead_of_nan():
    op = OPS["global_avg_pool"]
    for forward, _ in _tiers(op):
        with pytest.raises(ValueError, match=r"spatial size >= 1.*got shape \(2, 3, 0, 4\)"):
            forward(np.zeros((2, 3, 0, 4)))
        with pytest.raises(ValueError, match="at least 1 channel"):
            forward(np.zeros((2, 0, 4)))
        y, cache = forward(np.zeros((0, 3, 4)))  # no images: fine, an empty (0, 3)
        assert y.shape == (0, 3)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (2, 3, 0), (0, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_batch_leaves_the_running_estimates(shape, training):
    """PyTorch: an empty output, zero dweight/dbias, running statistics unchanged."""
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=3), rng.normal(size=3)
    mean0, var0 = rng.normal(size=3), rng.uniform(1, 2, size=3)
    op = OPS["batch_norm"]
    for forward, backward in [(op.forward, op.backward), (op.forward_naive, op.backward_naive)]:
        mean, var = mean0.copy(), var0.copy()
        y, cache = forward(np.zeros(shape), weight, bias, mean, var, training=training)
        np.testing.assert_array_equal(mean, mean0)
        np.testing.assert_array_equal(var, var0)
        assert y.shape == shape
        grads = backward(np.zeros(shape), cache)
        assert grads.dx.shape == shape
        np.testing.assert_array_equal(grads.dweight, np.zeros(3))
        np.testing.assert_array_equal(grads.dbias, np.zeros(3))
    with pytest.raises(ValueError, match=r"at least 1 channel \(axis 1\), got shape \(4, 0\)"):
        op.forward(np.zeros((4, 0)), training=training, running_mean=np.zeros(0),
                   running_var=np.ones(0))  # fmt: skip


def test_batch_norm_layer_counts_an_empty_batch_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = BatchNorm1D(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    batch = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    for x in (batch, np.zeros((0, 3), np.float32), batch[:3]):
        y = ours(x)
        y_t = theirs(torch.from_numpy(x))
        assert y.shape == tuple(y_t.shape)
    assert ours.num_batches_tracked == int(theirs.num_batches_tracked) == 3
    np.testing.assert_allclose(ours.buffers["running_mean"], theirs.running_mean, rtol=1e-6)
    np.testing.assert_allclose(ours.buffers["running_var"], theirs.running_var, rtol=1e-6)


def test_layers_pass_an_empty_batch_through_forward_and_backward():
    x = np.zeros((0, 3, 6, 6), np.float32)
    for layers in ([Conv2D(3, 4, 3), MaxPool2D(2), BatchNorm2D(4), Flatten(), Dense(16, 2)],):
        h = x
        for layer in layers:
            h = layer(h)
        assert h.shape == (0, 2)
        d = np.zeros(h.shape, np.float32)
        for layer in reversed(layers):
            d = layer.backward(d)
        assert d.shape == x.shape
        for layer in layers:
            for name, g in layer.grads.items():
                np.testing.assert_array_equal(g, np.zeros_like(g), err_msg=name)


# --------------------------------------------------------------------------- messages
def test_softmax_axis_and_empty_class_axis_messages():
    for fn in (F.softmax, F.log_softmax, OPS["softmax"].forward_naive):
        with pytest.raises(TypeError, match=r"axis must be an int, got 1.0 \(float\)"):
            fn(np.ones((2, 3)), axis=1.0)
        with pytest.raises(ValueError, match=r"at least 1 entry along axis=1.*\(2, 0\)"):
            fn(np.ones((2, 0)), axis=1)
    assert F.softmax(np.ones((0, 3)), axis=1).shape == (0, 3)  # no rows: fine


def test_read_only_running_mean_is_named():
    running_mean = np.zeros(3)
    running_mean.setflags(write=False)
    for fn in (F.batch_norm_forward, OPS["batch_norm"].forward_naive):
        with pytest.raises(ValueError, match=r"running_mean is read-only, but training=True"):
            fn(np.ones((4, 3)), None, None, running_mean, np.ones(3), training=True)
    y = F.batch_norm(np.ones((4, 3)), None, None, running_mean, np.ones(3), training=False)
    assert y.shape == (4, 3)  # evaluation only reads it


def test_dense_backward_given_a_bias_instead_of_its_cache():
    """After the op-contract redesign ``dense_backward(dy, cache)`` takes no bias: the cache
    records whether there was one. A bias array (or True) where the cache goes is a TypeError
    naming the cache, not numpy's 'truth value ... ambiguous' or an AttributeError."""
    x, w, b = np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
    F.dense_forward(x, w, b)
    for bad in (b, True, (2, 4)):
        with pytest.raises(TypeError, match=r"dense_backward: cache must be the DenseCache"):
            F.dense_backward(np.ones((2, 4)), bad)
    with pytest.raises(TypeError, match=r"dense bias must have dtype float32 or float64"):
        F.dense(x, w, True)
