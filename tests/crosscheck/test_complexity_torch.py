"""minidl.nn.complexity against PyTorch: the same networks built in torch, parameters counted as
sum(p.numel()), MACs/FLOPs/output bytes measured by forward hooks from the output tensors
torch actually produces (an independent walk of the shapes)."""

import math

import numpy as np
import pytest

from minidl.layers.activations import ReLU, Softmax
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm3D
from minidl.layers.conv import Conv1D, Conv2D, Conv2Plus1D, Conv3D
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.layers.pool import AvgPool1D, GlobalAvgPool, MaxPool2D, MaxPool3D
from minidl.layers.reshape import Flatten
from minidl.nn import complexity as cx

torch = pytest.importorskip("torch")
nn = torch.nn


def leaf_costs(module, x, y):
    """(MACs, FLOPs) per sample of one torch leaf module, from its real output ``y``."""
    n = y.shape[0]
    per_out = y.numel() // n
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        macs = per_out * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return macs, 2 * macs + (per_out if module.bias is not None else 0)
    if isinstance(module, nn.Linear):
        macs = per_out * module.in_features
        return macs, 2 * macs + (per_out if module.bias is not None else 0)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        k = module.kernel_size
        return 0, (math.prod(k if isinstance(k, tuple) else (k,) * (y.dim() - 2)) - 1) * per_out
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        k = module.kernel_size
        return 0, math.prod(k if isinstance(k, tuple) else (k,) * (y.dim() - 2)) * per_out
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return 0, x[0].numel() // n
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        return 0, 2 * per_out
    if isinstance(module, nn.ReLU):
        return 0, per_out
    if isinstance(module, nn.Softmax):
        return 0, 3 * per_out
    if isinstance(module, (nn.Flatten, nn.Dropout)):
        return 0, 0
    raise AssertionError(f"no rule for {module}")


def measure(torch_layers, input_shape):
    """Per top-level module: (params, MACs, FLOPs, output shape, output bytes per sample)."""
    rows = [[sum(p.numel() for p in m.parameters()), 0, 0, None, None] for m in torch_layers]
    hooks = []
    for i, top in enumerate(torch_layers):
        for leaf in top.modules():
            if not list(leaf.children()):

                def hook(mod, inp, out, i=i):
                    macs, flops = leaf_costs(mod, inp, out)
                    rows[i][1] += macs
                    rows[i][2] += flops

                hooks.append(leaf.register_forward_hook(hook))
    x = torch.zeros(input_shape)
    with torch.no_grad():
        for i, m in enumerate(torch_layers):
            m.eval()
            x = m(x)
            rows[i][3] = tuple(x.shape)
            rows[i][4] = x[0].numel() * x.element_size()
    for h in hooks:
        h.remove()
    return [tuple(r) for r in rows]


def article_000():
    ours = [Conv2D(1, 32, 5, padding="same"), ReLU(), MaxPool2D(2)]
    theirs = [nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)]
    return ours, theirs, (2, 1, 100, 100)


def keras_cnn():
    ours = [Conv2D(1, 32, 3), ReLU(), MaxPool2D(2), Conv2D(32, 64, 3), ReLU(), MaxPool2D(2),
            Flatten(), Dense(1600, 10), Softmax()]  # fmt: skip
    theirs = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 10), nn.Softmax(1)]  # fmt: skip
    return ours, theirs, (3, 1, 28, 28)


def video_net():
    block = Conv2Plus1D(8, 16, 3, padding=1)
    m = block.mid_channels
    ours = [Conv3D(3, 8, 3, stride=(1, 2, 2), padding=1), BatchNorm3D(8), ReLU(), block,
            MaxPool3D(2), GlobalAvgPool(), Dense(16, 5)]  # fmt: skip
    theirs = [
        nn.Conv3d(3, 8, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(8), nn.ReLU(),
        nn.Sequential(nn.Conv3d(8, m, (1, 3, 3), padding=(0, 1, 1)), nn.ReLU(),
                      nn.Conv3d(m, 16, (3, 1, 1), padding=(1, 0, 0))),
        nn.MaxPool3d(2), nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten()), nn.Linear(16, 5),
    ]  # fmt: skip
    return ours, theirs, (2, 3, 8, 16, 16)


def grouped_1d():
    ours = [Conv1D(4, 8, 3, stride=2, padding=2, dilation=2, groups=2), BatchNorm1D(8),
            AvgPool1D(3, 2, 1, ceil_mode=True), Conv1D(8, 8, 3, groups=8, bias=False),
            Flatten(), Dropout(0.3), Dense(8 * 5, 3, bias=False)]  # fmt: skip
    theirs = [nn.Conv1d(4, 8, 3, stride=2, padding=2, dilation=2, groups=2), nn.BatchNorm1d(8),
              nn.AvgPool1d(3, 2, 1, ceil_mode=True), nn.Conv1d(8, 8, 3, groups=8, bias=False),
              nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 5, 3, bias=False)]  # fmt: skip
    return ours, theirs, (2, 4, 23)


@pytest.mark.parametrize("build", [article_000, keras_cnn, video_net, grouped_1d])
def test_rows_match_torch_hooks(build):
    ours, theirs, input_shape = build()
    s = cx.summary(ours, input_shape)
    measured = measure(theirs, input_shape)
    for row, (params, macs, flops, shape, out_bytes) in zip(s.rows, measured, strict=True):
        assert (row.params, row.macs, row.flops) == (params, macs, flops), row.layer
        assert row.output_shape == shape, row.layer
        assert row.activation_bytes == out_bytes, row.layer  # float32 in both
    assert s.total_params == sum(p.numel() for m in theirs for p in m.parameters())
    assert s.total_macs == sum(r[1] for r in measured)


def test_torch_params_of_every_layer_type():
    cases = [
        (Dense(7, 3), nn.Linear(7, 3)),
        (Conv3D(3, 6, (3, 1, 2), groups=3), nn.Conv3d(3, 6, (3, 1, 2), groups=3)),
        (BatchNorm1D(5), nn.BatchNorm1d(5)),  # weight and bias; running stats are buffers
        (Conv2Plus1D(2, 4, (3, 5, 5), bias=False), None),
    ]
    for ours, theirs in cases[:-1]:
        assert cx.count_params(ours) == sum(p.numel() for p in theirs.parameters())
    block = cases[-1][0]
    m = block.mid_channels
    ref = [nn.Conv3d(2, m, (1, 5, 5), bias=False), nn.Conv3d(m, 4, (3, 1, 1), bias=False)]
    assert cx.count_params(block) == sum(p.numel() for r in ref for p in r.parameters())
    assert np.isclose(cx.count_params(block), 3 * 25 * 2 * 4, rtol=0.25)  # ~ the full kernel
