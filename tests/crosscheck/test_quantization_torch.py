"""minidl quantization against PyTorch: quantize/dequantize, observers' qparams, fake quantization
(forward and straight-through backward). Equalities are exact (bit for bit) unless stated.

Rounding: PyTorch rounds half to even (``std::nearbyint``), as minidl does. One real difference,
tested below: ``torch.quantize_per_tensor`` / ``quantize_per_channel`` (fbgemm's legacy path)
round ``x/S + Z`` (zero point added in float32 before rounding) while
``torch.fake_quantize_*`` round ``x/S`` then add ``Z`` (Jacob et al.'s formula, minidl's
default). They differ on exact ties with an odd Z; minidl's ``zero_point_before_rounding=True``
reproduces the former.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from minidl.compression.observers import MinMaxObserver  # noqa: E402
from minidl.compression.qat import fake_quantize, fake_quantize_backward  # noqa: E402
from minidl.compression.quantization import (  # noqa: E402
    choose_qparams,
    dequantize,
    qrange,
    quantize,
)

# torch 2.13 warns that quantized tensor dtypes are deprecated; the functions still work.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TORCH_DTYPE = {(8, True): torch.qint8, (8, False): torch.quint8, (32, True): torch.qint32}


def _torch_q(x, scale, zp, bits, signed, axis=None):
    dt = TORCH_DTYPE[(bits, signed)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if axis is None:
            return torch.quantize_per_tensor(torch.from_numpy(x), float(scale), int(zp), dt)
        return torch.quantize_per_channel(
            torch.from_numpy(x),
            torch.from_numpy(np.asarray(scale, np.float64)),
            torch.from_numpy(np.asarray(zp, np.int64)),
            axis,
            dt,
        )


@pytest.mark.parametrize("bits, signed", [(8, True), (8, False), (32, True)])
def test_quantize_per_tensor_matches_torch(rng, bits, signed):
    x = (rng.normal(size=(64, 257)) * 3).astype(np.float32)
    s, z = choose_qparams(x.min(), x.max(), bits=bits, signed=signed)
    z = z + 5 if bits == 32 else z  # an odd-ish zero point away from the observer's choice
    qt = _torch_q(x, s, z, bits, signed)
    q = quantize(x, s, z, bits=bits, signed=signed, zero_point_before_rounding=True)
    np.testing.assert_array_equal(q, qt.int_repr().numpy())
    np.testing.assert_array_equal(dequantize(q, s, z), qt.dequantize().numpy())
    q_default = quantize(x, s, z, bits=bits, signed=signed).astype(np.int64)
    if bits == 8:  # default rounding, round(x/S) + Z, agrees on data without exact ties
        np.testing.assert_array_equal(q_default, q)
    else:  # int32 codes near 2^31: torch adds Z in float32 (spacing 128 there), minidl exactly
        diff = np.abs(q_default - q.astype(np.int64))
        assert 0 < diff.max() <= 128


@pytest.mark.parametrize("axis", [0, 1, 3])
def test_quantize_per_channel_matches_torch(rng, axis):
    x = (rng.normal(size=(6, 5, 4, 7)) * rng.uniform(0.1, 4)).astype(np.float32)
    others = tuple(a for a in range(4) if a != axis)
    s, z = choose_qparams(x.min(axis=others), x.max(axis=others), signed=False)
    qt = _torch_q(x, s, z, 8, False, axis=axis)
    q = quantize(x, s, z, signed=False, axis=axis, zero_point_before_rounding=True)
    np.testing.assert_array_equal(q, qt.int_repr().numpy())
    np.testing.assert_array_equal(dequantize(q, s, z, axis=axis), qt.dequantize().numpy())


def test_tie_rounding_differs_only_by_zero_point_order():
    # x/S = k + 0.5 exactly, Z = 7 (odd): torch.quantize_per_tensor rounds x/S + Z half to even
    x = ((np.arange(-6, 10) + 0.5) * 0.25).astype(np.float32)  # codes 1.5 .. 16.5: no clamp
    qt = _torch_q(x, 0.25, 7, 8, False).int_repr().numpy()
    np.testing.assert_array_equal(
        quantize(x, 0.25, 7, signed=False, zero_point_before_rounding=True), qt
    )
    q_default = quantize(x, 0.25, 7, signed=False).astype(int)
    assert np.all(np.abs(q_default - qt) == 1)  # every tie lands one code apart
    fq = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), 0.25, 7, 0, 255).numpy()
    np.testing.assert_array_equal(fake_quantize(x, 0.25, 7, signed=False)[0], fq)


@pytest.mark.parametrize(
    "bits, signed, symmetric, narrow",
    [
        (8, False, False, False),
        (8, True, False, False),
        (8, True, True, False),
        (8, False, True, False),
        (8, True, True, True),
        (4, True, False, False),
        (4, False, False, False),
        (2, True, True, False),
    ],
)
def test_choose_qparams_matches_torch_observer(rng, bits, signed, symmetric, narrow):
    from torch.ao.quantization import MinMaxObserver as TorchMinMax

    qmin, qmax = qrange(bits, signed, narrow)
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    dtype = torch.qint8 if signed else torch.quint8
    for lo, hi in [(-1.3, 2.7), (0.4, 5.0), (-3.0, -0.2), (0.0, 0.0), (-1e-9, 2e-9)]:
        x = np.linspace(lo, hi, 11, dtype=np.float32)
        kw = {} if (bits == 8 and not narrow) else {"quant_min": qmin, "quant_max": qmax}
        obs = TorchMinMax(dtype=dtype, qscheme=qscheme, **kw)
        obs(torch.from_numpy(x))
        ts, tz = obs.calculate_qparams()
        s, z = choose_qparams(x.min(), x.max(), bits, symmetric, signed, narrow)
        assert s == ts.item(), (lo, hi)
        assert z == tz.item(), (lo, hi)


@pytest.mark.parametrize("symmetric", [False, True])
def test_per_channel_qparams_match_torch_observer(rng, symmetric):
    from torch.ao.quantization import PerChannelMinMaxObserver

    x = (rng.normal(size=(5, 3, 4, 4)) * rng.uniform(0.01, 3, size=(5, 1, 1, 1))).astype(np.float32)
    x[2] = 0.0  # a constant channel: scale eps, not a division by zero
    qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=qscheme)
    obs(torch.from_numpy(x))
    ts, tz = obs.calculate_qparams()
    s, z = choose_qparams(x.min(axis=(1, 2, 3)), x.max(axis=(1, 2, 3)), symmetric=symmetric)
    np.testing.assert_array_equal(s, ts.numpy())
    np.testing.assert_array_equal(z, tz.numpy())


@pytest.mark.parametrize("axis", [None, 1])
def test_moving_average_observer_matches_torch(rng, axis):
    from torch.ao.quantization import (
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
    )

    if axis is None:
        t_obs = MovingAverageMinMaxObserver(averaging_constant=0.1, dtype=torch.quint8)
    else:
        t_obs = MovingAveragePerChannelMinMaxObserver(
            averaging_constant=0.1, ch_axis=axis, dtype=torch.quint8
        )
    obs = MinMaxObserver(signed=False, axis=axis, averaging_constant=0.1)
    for _ in range(5):
        x = (rng.normal(size=(8, 3, 5)) * rng.uniform(0.5, 3)).astype(np.float32)
        t_obs(torch.from_numpy(x))
        obs(x)
    ts, tz = t_obs.calculate_qparams()
    s, z = obs.calculate_qparams()
    np.testing.assert_array_equal(s, ts.numpy())
    np.testing.assert_array_equal(z, tz.numpy())


def _assert_fake_equal(y, yt):
    """float32: bit for bit. float64: torch's CPU kernel forms (q - Z) * S in float32 even for
    double input (its output has float32 precision); minidl keeps float64, so the two agree to
    float32's half ulp, 2^-24 relative, and the codes (hence the mask) agree exactly."""
    if y.dtype == np.float32:
        np.testing.assert_array_equal(y, yt)
    else:
        np.testing.assert_allclose(y, yt, rtol=2.0**-24, atol=0)
        np.testing.assert_array_equal(y.astype(np.float32), yt.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fake_quantize_per_tensor_forward_backward_match_torch(rng, dtype):
    x = (rng.normal(size=(16, 33)) * 2).astype(dtype)
    s, z = np.float32(0.0137), 3
    qmin, qmax = qrange(8, False)  # range covers about [-0.04, 3.45]: many clamped values
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.fake_quantize_per_tensor_affine(xt, float(s), z, qmin, qmax)
    dy = rng.normal(size=x.shape).astype(dtype)
    yt.backward(torch.from_numpy(dy))
    y, mask = fake_quantize(x, s, z, signed=False)
    assert y.dtype == dtype
    _assert_fake_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(fake_quantize_backward(dy, mask), xt.grad.numpy())
    assert 0 < mask.mean() < 1  # both branches of the STE are exercised


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1])
def test_fake_quantize_per_channel_forward_backward_match_torch(rng, dtype, axis):
    x = (rng.normal(size=(4, 6, 5)) * 2).astype(dtype)
    c = x.shape[axis]
    s = rng.uniform(0.005, 0.03, size=c).astype(np.float32)
    z = rng.integers(-20, 20, size=c)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.fake_quantize_per_channel_affine(
        xt, torch.from_numpy(s), torch.from_numpy(z.astype(np.int32)), axis, -128, 127
    )
    dy = rng.normal(size=x.shape).astype(dtype)
    yt.backward(torch.from_numpy(dy))
    y, mask = fake_quantize(x, s, z, axis=axis)
    _assert_fake_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(fake_quantize_backward(dy, mask), xt.grad.numpy())
    assert 0 < mask.mean() < 1


@pytest.mark.parametrize("bits", [3, 4, 8])
def test_quantize_weights_equals_torch_observer_plus_fake_quantize(rng, bits):
    # PyTorch's weight-only recipe: a symmetric per-channel MinMax observer on the weight, then
    # fake quantization along the output channel, range [-2^(b-1), 2^(b-1) - 1].
    from minidl.compression import quantize_weights
    from minidl.layers import Conv2D
    from minidl.nn.model import Sequential

    model = Sequential([Conv2D(3, 5, 3, rng=rng)])
    w = model.params["0.weight"]
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    obs = torch.ao.quantization.PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
        quant_min=qmin, quant_max=qmax,
    )  # fmt: skip
    wt = torch.from_numpy(w.copy())
    obs(wt)
    scale, zero_point = obs.calculate_qparams()
    expected = torch.fake_quantize_per_channel_affine(wt, scale, zero_point.int(), 0, qmin, qmax)
    got = quantize_weights(model, bits=bits).params["0.weight"]
    np.testing.assert_array_equal(got, expected.numpy())  # float32, bit for bit
