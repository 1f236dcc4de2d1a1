"""PyTorch's own ops pass every case they cover; PyTorch called with one convention broken
fails the right cases with the right diagnosis. torch enters only through the torch adapter."""

import numpy as np
import pytest

from minidl.conformance.cases import FAMILIES
from minidl.conformance.check import check

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _quantize(x, scale, zero_point, bits=8, signed=True):
    assert bits == 8
    return torch.quantize_per_tensor(
        x.float(), scale, zero_point, (torch.quint8, torch.qint8)[signed]
    )


def _dequantize(q, scale, zero_point):
    return torch._make_per_tensor_quantized_tensor(q, scale, zero_point).dequantize()


def _l1_mask(w, sparsity):
    prune = pytest.importorskip("torch.nn.utils.prune")
    return prune.L1Unstructured(amount=sparsity).compute_mask(w, default_mask=torch.ones_like(w))


TORCH_OPS = {
    "conv1d": F.conv1d,
    "conv2d": F.conv2d,
    "conv3d": F.conv3d,
    "max_pool1d": F.max_pool1d,
    "max_pool2d": F.max_pool2d,
    "max_pool3d": F.max_pool3d,
    "avg_pool1d": F.avg_pool1d,
    "avg_pool2d": F.avg_pool2d,
    "avg_pool3d": F.avg_pool3d,
    "batch_norm_train": F.batch_norm,
    "batch_norm_eval": F.batch_norm,
    "dense": F.linear,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": F.softmax,
    "log_softmax": F.log_softmax,
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "quantize": _quantize,
    "dequantize": _dequantize,
    "magnitude_mask": _l1_mask,
}


def test_every_network_family_has_a_torch_op():
    assert set(TORCH_OPS) == {n for n, f in FAMILIES.items() if f.kind == "function"}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")
@pytest.mark.parametrize("name", sorted(TORCH_OPS))
def test_torch_passes_every_case(name):
    # PyTorch's integer padding cannot express TensorFlow's SAME with stride > 1: the
    # explicit_padding adapter pads x (extra zero at the end) and calls it with padding=0
    adapter = "torch+explicit_padding" if name.startswith("conv") else "torch"
    report = check(TORCH_OPS[name], name, adapter=adapter)
    assert report.passed, report.table()
    assert report.gradients == bool(FAMILIES[name].grad_wrt)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_torch_conv_without_the_padding_adapter_errors_only_on_strided_same():
    report = check(F.conv2d, "conv2d", adapter="torch")
    assert [r.case for r in report.failures] == ["same_stride2_tf"]
    row = report.row("same_stride2_tf")
    assert row.status == "ERROR" and "explicit_padding adapter" in row.diagnosis


def test_torch_float32_conv_within_float32_tolerance():
    report = check(F.conv3d, "conv3d", adapter="torch+explicit_padding", dtype=np.float32)
    assert report.passed, report.table()


# ------------------------------------------------------------------ wrong conventions
def _fails_with(report, phrase, cases=None):
    for row in report.rows:
        if cases is None or row.case in cases:
            assert not row.passed and phrase in row.diagnosis, (row.case, report.table())
        else:
            assert row.passed, (row.case, row.diagnosis)


def test_torch_flipped_kernel():
    def conv_flip(x, w, b, **kw):
        return F.conv2d(x, torch.flip(w, dims=(2, 3)), b, **kw)

    report = check(conv_flip, "conv2d", adapter="torch+explicit_padding")
    _fails_with(report, "kernel flipped")
    # gradients are checked too, and are wrong as well
    assert all("grad weight" in r.failed for r in report.rows)


def test_torch_channels_last():
    def conv_nhwc(x, w, b, **kw):
        return F.conv2d(x.permute(0, 3, 1, 2), w, b, **kw).permute(0, 2, 3, 1)

    _fails_with(check(conv_nhwc, "conv2d", adapter="torch+explicit_padding"), "channels-last")
    assert check(conv_nhwc, "conv2d", adapter="torch+explicit_padding+nhwc").passed


def test_torch_batch_norm_with_unbiased_variance():
    def bn_unbiased(x, weight, bias, running_mean, running_var, training, momentum, eps):
        F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)
        dims, shape = [0] + list(range(2, x.ndim)), [1, -1] + [1] * (x.ndim - 2)
        mean, var = x.mean(dims), x.var(dims, unbiased=True)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
        return x_hat * weight.view(shape) + bias.view(shape)

    report = check(bn_unbiased, "batch_norm_train", adapter="torch")
    _fails_with(report, "unbiased variance (ddof=1)")


def test_torch_conv_padding_one_less():
    def conv_pad_less(x, w, b, padding, **kw):
        return F.conv2d(
            x, w, b, padding=tuple(max(p - 1, 0) for p in np.broadcast_to(padding, 2)), **kw
        )

    report = check(conv_pad_less, "conv2d", adapter="torch+explicit_padding")
    padded = {"stride2_pad1", "dilation2_pad2", "dilation3_stride2", "groups2", "depthwise"}
    _fails_with(report, "padding - 1", padded | {"anisotropic"})


def test_torch_conv_dilation_minus_one():
    def conv_dil(x, w, b, dilation, **kw):
        return F.conv1d(x, w, b, dilation=np.subtract(dilation, 1).tolist(), **kw)

    report = check(conv_dil, "conv1d", adapter="torch+explicit_padding")
    for name in ("dilation2_pad2", "dilation3_stride2"):
        assert "acts as dilation d - 1" in report.row(name).diagnosis


def test_torch_linear_with_transposed_weight():
    report = check(lambda x, w, b: F.linear(x, w.T, b), "dense", adapter="torch")
    _fails_with(report, "(in_features, out_features)")


def test_torch_softmax_wrong_dim():
    report = check(lambda x, dim: F.log_softmax(x, -1), "log_softmax", adapter="torch")
    _fails_with(report, "instead of axis 1", {"channels_3d", "channels_4d"})


def test_torch_avg_pool_excluding_padding():
    def avg(x, **kw):
        return F.avg_pool2d(x, count_include_pad=False, **kw)

    report = check(avg, "avg_pool2d", adapter="torch")
    _fails_with(report, "count_include_pad=False", {"k3_s2_pad1", "k2_s1_pad1", "anisotropic"})
