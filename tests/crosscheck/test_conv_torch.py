"""conv_nd and the conv layers against PyTorch 2.13 (torch.nn.functional + autograd).

Tolerances: float32 rtol 1e-4, float64 rtol 1e-10, both relative to the largest entry of the
reference (``atol = rtol * max|ref|``), since the two libraries sum in different orders and an
entry that is nearly zero by cancellation carries the absolute rounding error of the large ones.
"""

import math

import numpy as np
import pytest

from minidl.functional.conv import conv_nd, conv_nd_backward, conv_nd_forward
from minidl.layers.conv import Conv2D, Conv2Plus1D

torch = pytest.importorskip("torch")
F = torch.nn.functional
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
RTOL = {np.float32: 1e-4, np.float64: 1e-10}


def tf_same_pads(n, k, s, d):
    """TensorFlow's SAME, as its documentation states it (conv2d 'same' padding notes)."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def torch_conv(x, w, b, stride, padding, dilation, groups):
    """PyTorch reference; 'same' becomes an explicit F.pad (PyTorch has no TF-SAME for
    stride > 1), 'valid' is padding 0."""
    nd = w.ndim - 2
    st = (stride,) * nd if isinstance(stride, int) else stride
    dl = (dilation,) * nd if isinstance(dilation, int) else dilation
    if padding == "same":
        pads = [tf_same_pads(x.shape[2 + i], w.shape[2 + i], st[i], dl[i]) for i in range(nd)]
        flat = [p for pair in reversed(pads) for p in pair]  # F.pad lists the LAST axis first
        x, padding = F.pad(x, flat), 0
    elif padding == "valid":
        padding = 0
    return TORCH_CONV[nd](x, w, b, stride=st, padding=padding, dilation=dl, groups=groups)


def make_cases(nd, count, seed):
    gen = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(gen.choice([1, 2, 3]))
        c_g, o_g = int(gen.integers(1, 4)), int(gen.integers(1, 4))
        in_sizes = tuple(int(v) for v in gen.integers(4, {1: 20, 2: 11, 3: 7}[nd], size=nd))
        kernel = tuple(int(v) for v in gen.integers(1, 5, size=nd))
        stride = tuple(int(v) for v in gen.integers(1, 4, size=nd))
        dilation = tuple(int(v) for v in gen.choice([1, 2], size=nd))
        padding = gen.choice(["int", "same", "valid"])
        padding = int(gen.integers(0, 3)) if padding == "int" else str(padding)
        pad = 0 if isinstance(padding, str) else padding
        if padding == "same" or all(
            d * (k - 1) + 1 <= n + 2 * pad
            for n, k, d in zip(in_sizes, kernel, dilation, strict=True)
        ):
            x_shape = (int(gen.integers(1, 4)), groups * c_g) + in_sizes
            w_shape = (groups * o_g, c_g) + kernel
            cases.append((x_shape, w_shape, bool(gen.random() < 0.7), stride, padding, dilation,
                          groups))  # fmt: skip
    return cases


CASES = [c for nd in (1, 2, 3) for c in make_cases(nd, 12, seed=7 + nd)]


def close(a, ref, dtype):
    ref = ref.detach().numpy()
    rtol = RTOL[dtype]
    np.testing.assert_allclose(a, ref, rtol=rtol, atol=rtol * max(np.abs(ref).max(), 1e-30))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[f"{len(c[1]) - 2}d-{i}" for i, c in enumerate(CASES)])
def test_forward_backward_vs_torch(case, dtype, rng):
    x_shape, w_shape, has_bias, stride, padding, dilation, groups = case
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype) if has_bias else None
    y, cache = conv_nd_forward(x, w, b, stride, padding, dilation, groups)
    dy = rng.normal(size=y.shape).astype(dtype)
    dx, dw, db = conv_nd_backward(dy, cache)

    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if has_bias else None
    yt = torch_conv(xt, wt, bt, stride, padding, dilation, groups)
    yt.backward(torch.tensor(dy))
    assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
    close(y, yt, dtype)
    close(dx, xt.grad, dtype)
    close(dw, wt.grad, dtype)
    if has_bias:
        close(db, bt.grad, dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel", [(3, 3), (4, 2), (5, 4)])
def test_same_stride1_equals_torch_same(kernel, rng):
    """PyTorch's own padding='same' (stride 1 only) also puts the odd zero at the end."""
    x, w = rng.normal(size=(2, 3, 7, 8)), rng.normal(size=(4, 3) + kernel)
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(1, 2))
    close(conv_nd(x, w, padding="same", dilation=(1, 2)), ref, np.float64)


def test_article000_same_stride2_documented_case(rng):
    """TF docs' example: n = 5, k = 3, stride 2 under SAME -> 3 outputs, pads (1, 1); and
    n = 6 -> pads (0, 1), which torch's symmetric integer padding cannot give."""
    assert tf_same_pads(5, 3, 2, 1) == (1, 1) and tf_same_pads(6, 3, 2, 1) == (0, 1)
    x, w = rng.normal(size=(1, 1, 6, 6)), rng.normal(size=(1, 1, 3, 3))
    y = conv_nd(x, w, stride=2, padding="same")
    ref = F.conv2d(F.pad(torch.tensor(x), (0, 1, 0, 1)), torch.tensor(w), stride=2)
    close(y, ref, np.float64)
    sym = F.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1).numpy()
    assert sym.shape == y.shape and not np.allclose(sym, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_layer_loads_torch_state_dict(dtype, rng):
    ref = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    ref = ref.to(torch.float64 if dtype == np.float64 else torch.float32)
    layer = Conv2D(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2, dtype=dtype)
    for name, p in ref.state_dict().items():
        assert layer.params[name].shape == tuple(p.shape)
        layer.params[name][...] = p.numpy()
    x = rng.normal(size=(2, 4, 7, 6)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    dy = rng.normal(size=tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(dy))
    close(layer(x), yt, dtype)
    close(layer.backward(dy), xt.grad, dtype)
    close(layer.grads["weight"], ref.weight.grad, dtype)
    close(layer.grads["bias"], ref.bias.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2plus1d_vs_torch_composition(dtype, rng):
    """Conv3d(1xkxk) -> ReLU -> Conv3d(tx1x1) in PyTorch with the same weights."""
    block = Conv2Plus1D(3, 5, (3, 3, 3), stride=(2, 1, 1), padding=1, dtype=dtype, rng=rng)
    x = rng.normal(size=(2, 3, 5, 6, 6)).astype(dtype)
    ts = {k: torch.tensor(v, requires_grad=True) for k, v in block.params.items()}
    xt = torch.tensor(x, requires_grad=True)
    h = F.relu(F.conv3d(xt, ts["spatial.weight"], ts["spatial.bias"], padding=(0, 1, 1)))
    yt = F.conv3d(h, ts["temporal.weight"], ts["temporal.bias"], stride=(2, 1, 1),
                  padding=(1, 0, 0))  # fmt: skip
    y = block(x)
    dy = rng.normal(size=y.shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    close(y, yt, dtype)
    close(block.backward(dy), xt.grad, dtype)
    for k, t in ts.items():
        close(block.grads[k], t.grad, dtype)
