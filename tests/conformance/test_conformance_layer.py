"""check_layer: class-based layers in the two styles from-scratch code is written in -- a
textbook's (forward/backward methods, gradients left in attributes) and one whose backward
applies the optimizer itself -- pass when right and get the per-output diagnosis when not.
The classes are written here in those styles on top of minidl's functions."""

import copy

import numpy as np
import pytest

from minidl.conformance import check_layer, from_update
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.conv import conv_nd_backward, conv_nd_forward


# ------------------------------------------------------------------ the textbook style
class Affine:
    """W kept as (in, out), y = x W + b; gradients left in .dW, .db."""

    def __init__(self, W, b, bias_mean=False):
        self.W, self.b, self.bias_mean = W, b, bias_mean

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.mean(axis=0) if self.bias_mean else dout.sum(axis=0)
        return dout @ self.W.T


def _make_affine(bias_mean=False):
    def make(weight, bias):
        b = np.zeros(len(weight)) if bias is None else bias
        return Affine(weight.T, b, bias_mean)

    return make


AFFINE_GRADS = {"weight": lambda layer: layer.dW.T, "bias": "db"}


def test_textbook_affine_passes():
    report = check_layer(_make_affine(), "dense", grads=AFFINE_GRADS)
    assert report.passed and report.gradients, report.table()


def test_textbook_affine_with_a_mean_bias_gradient():
    report = check_layer(_make_affine(bias_mean=True), "dense", grads=AFFINE_GRADS)
    row = report.row("basic")  # N = 4
    assert row.failed == ("grad bias",)
    assert "forward matches; gradient wrong: grad bias is 0.25 x the expected" in row.diagnosis
    assert report.row("single_row").passed  # N = 1: the mean is the sum


class Convolution:
    """Takes (W, b, stride, pad) and nothing else: no dilation, no groups."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        y, self.cache = conv_nd_forward(x, self.W, self.b, self.stride, self.pad)
        return y

    def backward(self, dout):
        dx, self.dW, self.db = conv_nd_backward(dout, self.cache)
        return dx


def test_textbook_convolution_without_dilation_and_groups():
    def make(weight, bias, stride, padding):  # dilation and groups are not passed on
        return Convolution(weight, bias, stride, padding)

    grads = {"weight": "dW", "bias": "db"}
    report = check_layer(make, "conv2d", grads=grads)
    assert "ignores dilation (acts as dilation=1)" in report.row("dilation2_pad2").diagnosis
    assert report.row("groups2").status == "ERROR"
    assert "leave it out with skip=" in report.row("groups2").diagnosis
    # what it supports, it does right: a green run once the rest is declared unsupported
    green = check_layer(make, "conv2d", grads=grads, skip="dilation,groups")
    assert green.passed, green.table()
    assert {r.case for r in green.rows if r.status == "unsupported"} == {
        "dilation2_pad2",
        "dilation3_stride2",
        "anisotropic",  # dilation (1, 2)
        "groups2",
        "depthwise",
    }
    assert "5 unsupported" in green.table()


class BatchNormalization:
    """Keras' momentum (weight of the old value) and the biased running variance, buffers
    rebound on the object; forward(x, train_flg)."""

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, train_flg=True):
        axes = (0,) + tuple(range(2, x.ndim))
        m = self.momentum
        if train_flg:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self.running_mean = m * self.running_mean + (1 - m) * mean
            self.running_var = m * self.running_var + (1 - m) * var
        y, self.cache = batch_norm_forward(
            x, self.gamma, self.beta, self.running_mean.copy(), self.running_var.copy(),
            training=train_flg, eps=self.eps,
        )  # fmt: skip
        return y

    def backward(self, dout):
        dx, self.dgamma, self.dbeta = batch_norm_backward(dout, self.cache)
        return dx


def _make_bn(weight, bias, running_mean, running_var, momentum, eps):
    layer = BatchNormalization(weight, bias, momentum, running_mean, running_var)
    layer.eps = eps
    return layer


BN = {
    "forward": lambda layer, x, training: layer.forward(x, train_flg=training),
    "grads": {"weight": "dgamma", "bias": "dbeta"},
}


def test_layer_that_rebinds_its_buffers():
    """Read from the arrays given to make, rebound buffers come back unchanged; read from
    the layer's attributes, the conventions it breaks show."""
    report = check_layer(_make_bn, "batch_norm_train", **BN)
    for row in report.rows:
        assert "running estimates came back unchanged" in row.diagnosis
        assert row.output("y").passed and row.output("grad x").passed
    buffers = {"running_mean": "running_mean", "running_var": "running_var"}
    report = check_layer(_make_bn, "batch_norm_train", buffers=buffers, **BN)
    for row in report.rows:
        assert "Keras' convention" in row.output("running_mean").diagnosis
        assert "biased batch variance" in row.output("running_var").diagnosis
    # Keras' momentum is 1 - PyTorch's: pass it so, and only the biased variance is left
    converted = check_layer(
        lambda weight, bias, running_mean, running_var, momentum, eps: _make_bn(
            weight, bias, running_mean, running_var, 1 - momentum, eps
        ),
        "batch_norm_train",
        buffers=buffers,
        **BN,
    )
    for row in converted.rows:
        assert row.failed == ("running_var",), row.diagnosis
        assert "updates the running variance with the biased batch variance" in row.diagnosis
    assert check_layer(_make_bn, "batch_norm_eval", buffers=buffers, **BN).passed


# ------------------------------------------------------------------ a self-updating layer
class SGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def update(self, w, grad_wrt_w):
        return w - self.learning_rate * grad_wrt_w


class Dense:
    """The backward updates the weights with its optimizer and returns the input gradient
    (computed with the weights of the forward)."""

    def __init__(self, n_units, input_shape):
        self.n_units, self.input_shape = n_units, input_shape

    def initialize(self, optimizer):
        self.W = np.zeros((self.input_shape[0], self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X @ self.W + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        self.W = self.W_opt.update(self.W, self.layer_input.T @ accum_grad)
        self.w0 = self.w0_opt.update(self.w0, accum_grad.sum(axis=0, keepdims=True))
        return accum_grad @ W.T


@pytest.mark.parametrize("lr", [1.0, 0.01])
def test_layer_whose_backward_applies_the_optimizer(lr):
    def make(weight, bias):
        layer = Dense(weight.shape[0], input_shape=(weight.shape[1],))
        layer.initialize(SGD(learning_rate=lr))
        layer.W = weight.T.copy()
        layer.w0 = (np.zeros(len(weight)) if bias is None else bias)[None, :].copy()
        return layer

    grads = {
        "weight": from_update(lambda layer: layer.W.T, lr=lr),
        "bias": from_update(lambda layer: layer.w0[0], lr=lr),
    }
    # lr = 0.01 divides the rounding of w - lr g by lr: 1e-16 |w| / 0.01, inside 1e-7 still
    report = check_layer(make, "dense", forward="forward_pass", backward="backward_pass",
                         grads=grads)  # fmt: skip
    assert report.passed and report.gradients, report.table()


# ------------------------------------------------------------------ bad arguments
def test_check_layer_bad_arguments():
    with pytest.raises(ValueError, match="grads must say where the layer keeps the gradient"):
        check_layer(_make_affine(), "dense")
    with pytest.raises(ValueError, match="no gradient of"):
        check_layer(_make_affine(), "dense", grads=dict(AFFINE_GRADS, W="dW"))
    with pytest.raises(ValueError, match="use check"):
        check_layer(_make_affine(), "ridge")
    with pytest.raises(TypeError, match="make must build the layer"):
        check_layer("Affine", "dense", grads=AFFINE_GRADS)
    with pytest.raises(ValueError, match="from_update lr"):
        from_update("W", lr=0)
    # the forward only needs no grads
    assert check_layer(_make_affine(), "dense", backward=False).passed


def test_a_layer_that_cannot_be_built_is_an_error_row():
    def make(weight, bias):
        return Affine(weight.T, bias.copy())  # the case without a bias: None.copy() raises

    report = check_layer(make, "dense", grads=AFFINE_GRADS)
    row = report.row("no_bias")
    assert row.status == "ERROR" and "AttributeError" in row.diagnosis
    assert "test_conformance_layer.py" in row.diagnosis and "in make" in row.diagnosis
    assert report.row("basic").passed
