"""PyTorch's own ops pass every case they cover; PyTorch called with one convention broken
fails the right cases with the right diagnosis. torch enters only through the torch adapter."""

import importlib

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


def _qrange(bits, signed, narrow_range):
    """The integer range, written out here (not minidl's qrange): [-2^(b-1), 2^(b-1) - 1] or
    [0, 2^b - 1], the lowest code dropped for a narrow range."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return lo + bool(narrow_range), hi


def _fake_quantize_per_channel(x, scale, zero_point, axis, bits=8, signed=True, narrow_range=False):
    """Codes from torch.fake_quantize_per_channel_affine, which returns S_c (q - Z_c): dividing
    by S_c and rounding recovers q - Z_c exactly (|q - Z_c| < 2^9, far from any rounding)."""
    qmin, qmax = _qrange(bits, signed, narrow_range)
    y = torch.fake_quantize_per_channel_affine(x, scale.float(), zero_point.int(), axis, qmin, qmax)
    shape = [-1 if d == axis else 1 for d in range(x.ndim)]
    return torch.round(y / scale.view(shape)) + zero_point.view(shape)


def _quantize_per_channel(x, scale, zero_point, axis, bits=8, signed=True, narrow_range=False):
    """torch.quantize_per_channel: int8/uint8 over the full range only."""
    if bits != 8 or narrow_range:
        raise NotImplementedError("torch.quantize_per_channel has 8-bit full ranges only")
    dtype = torch.qint8 if signed else torch.quint8
    return torch.quantize_per_channel(x.float(), scale, zero_point, axis, dtype)


def _observer_qparams(x_min, x_max, bits=8, symmetric=False, signed=True, narrow_range=False):
    """PyTorch's MinMaxObserver (0-d range) or PerChannelMinMaxObserver (1-D) rule, on float32
    min/max as the observers keep them; the default 8-bit range is left to PyTorch (a custom
    [0, 255] would make its symmetric quint8 zero point 127 instead of 128)."""
    obs = importlib.import_module("torch.ao.quantization.observer")
    per_channel = x_min.ndim > 0
    kind = ("per_channel_" if per_channel else "per_tensor_") + (
        "symmetric" if symmetric else "affine"
    )
    kw = {"dtype": torch.qint8 if signed else torch.quint8, "qscheme": getattr(torch, kind)}
    if bits != 8 or narrow_range:
        kw["quant_min"], kw["quant_max"] = _qrange(bits, signed, narrow_range)
    cls = obs.PerChannelMinMaxObserver if per_channel else obs.MinMaxObserver
    scale, zero_point = cls(**kw)._calculate_qparams(x_min.float(), x_max.float())
    return scale.reshape(x_min.shape), zero_point.reshape(x_min.shape)  # (1,) for a tensor


def _global_l1_masks(weights, sparsity):
    """torch.nn.utils.prune.global_unstructured with L1Unstructured over one module each."""
    prune = importlib.import_module("torch.nn.utils.prune")
    modules = []
    for w in weights:
        m = torch.nn.Module()
        m.weight = torch.nn.Parameter(w.clone())
        modules.append(m)
    prune.global_unstructured(
        [(m, "weight") for m in modules], pruning_method=prune.L1Unstructured, amount=sparsity
    )
    return [m.weight_mask for m in modules]


def _masked_dropout(x, mask, p):
    """PyTorch's own kernel for a given mask: native_dropout_backward(g, mask, scale) is
    g * mask * scale (the dropout forward with that mask) and differentiable."""
    return torch.ops.aten.native_dropout_backward(x, mask.bool(), 1.0 / (1.0 - p))


def _optimizer_step(cls, param, grad, state, **kwargs):
    """One step of torch.optim.<cls> from the given state; the parameter and the new state."""
    p = torch.nn.Parameter(param.clone())
    p.grad = grad.clone()
    opt = cls([p], **kwargs)
    if state:
        opt.state[p].update(state)
    opt.step()
    return p.detach(), opt.state[p]


def _sgd(param, grad, momentum_buffer=None, **kwargs):
    state = {} if momentum_buffer is None else {"momentum_buffer": momentum_buffer.clone()}
    p, state = _optimizer_step(torch.optim.SGD, param, grad, state, **kwargs)
    return p, state["momentum_buffer"]


def _adam(cls):
    def step_fn(param, grad, exp_avg=None, exp_avg_sq=None, step=1, **kwargs):
        state = {}
        if exp_avg is not None:  # the state after step - 1 steps
            state = {"step": torch.tensor(float(step - 1)), "exp_avg": exp_avg.clone(),
                     "exp_avg_sq": exp_avg_sq.clone()}  # fmt: skip
        p, state = _optimizer_step(cls, param, grad, state, foreach=False, **kwargs)
        assert float(state["step"]) == step
        return p, state["exp_avg"], state["exp_avg_sq"]

    return step_fn


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
    "quantize_per_channel": _fake_quantize_per_channel,
    "choose_qparams": _observer_qparams,
    "dequantize": _dequantize,
    "magnitude_mask": _l1_mask,
    "global_magnitude_masks": _global_l1_masks,
    "dropout_masked": _masked_dropout,
    "layer_norm": F.layer_norm,
    "group_norm": F.group_norm,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "multi_margin_loss": F.multi_margin_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "cross_entropy_probs": lambda p, target: F.nll_loss(torch.log(p), target),
    "cross_entropy_onehot": F.cross_entropy,
    "dense_flatten": lambda x, weight, bias: F.linear(x.flatten(1), weight, bias),
    "conv_transpose1d": F.conv_transpose1d,
    "conv_transpose2d": F.conv_transpose2d,
    "conv_transpose3d": F.conv_transpose3d,
    "sgd_step": _sgd,
    "adam_step": _adam(torch.optim.Adam),
    "adamw_step": _adam(torch.optim.AdamW),
    "im2col": F.unfold,
    "col2im": F.fold,
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
    _fails_with(
        report, "count_include_pad=False", {"k3_s2_pad1", "k2_s1_pad1", "anisotropic", "k4_s2_pad2"}
    )


# ------------------------------------------------------------------ quantization and pruning
NEW_FAMILIES = ("quantize_per_channel", "choose_qparams", "global_magnitude_masks")


@pytest.mark.parametrize("name", NEW_FAMILIES)
def test_torch_quantization_and_pruning_agree_exactly(name):
    """Not just within the tolerance: the same codes, masks and float32 scales, bit for bit."""
    report = check(TORCH_OPS[name], name, adapter="torch")
    assert report.passed and max(r.max_abs for r in report.rows) == 0.0, report.table()


def test_torch_fake_quantize_on_float32_input():
    report = check(_fake_quantize_per_channel, "quantize_per_channel", "torch", dtype=np.float32)
    assert report.passed and max(r.max_abs for r in report.rows) == 0.0, report.table()


@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")
def test_torch_quantize_per_channel_rounds_after_adding_the_zero_point():
    """torch.quantize_per_channel computes round(x/S + Z): on exact ties with an odd Z it
    differs from (2.13)'s round(x/S) + Z, which fake_quantize_per_channel_affine follows."""
    report = check(_quantize_per_channel, "quantize_per_channel", adapter="torch")
    statuses = {r.case: r.status for r in report.rows}
    assert statuses.pop("narrow_range") == statuses.pop("int4") == "ERROR"
    assert statuses.pop("ties_odd_zero_points") == "FAIL"
    assert set(statuses.values()) == {"pass"}, report.table()
    assert "adds the zero point before rounding" in report.row("ties_odd_zero_points").diagnosis


def test_torch_observer_with_tensorflow_symmetric_range():
    def qparams_127(x_min, x_max, narrow_range=False, **kw):  # always [-127, 127]
        return _observer_qparams(x_min, x_max, narrow_range=True, **kw)

    report = check(qparams_127, "choose_qparams", adapter="torch")
    # only the 8-bit signed symmetric cases see the denominator; affine ones move the scale too
    assert "instead of (qmax - qmin) / 2 = 127.5" in report.row("symmetric_int8").diagnosis
    assert report.row("channels_narrow_symmetric").passed


def test_torch_per_layer_pruning_instead_of_global():
    def per_layer(weights, sparsity):
        return [_l1_mask(w, sparsity) for w in weights]

    report = check(per_layer, "global_magnitude_masks", adapter="torch")
    failing = {"two_layers", "layer_pruned_entirely", "ties_at_threshold", "count_2.5", "count_3.5"}
    _fails_with(report, "separately (a per-layer threshold)", failing)
