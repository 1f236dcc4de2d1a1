r"""Convolution layers ``Conv1D``, ``Conv2D``, ``Conv3D`` (one N-d class) and ``Conv2Plus1D``.

Arguments and parameter layout follow PyTorch's ``nn.ConvNd``: ``weight`` is
``(out_channels, in_channels / groups, *kernel_size)`` and ``bias`` is ``(out_channels,)``, so a
PyTorch ``state_dict`` loads as is. ``padding`` also takes ``'valid'`` and TensorFlow's
``'same'`` (asymmetric when stride > 1: the extra zero goes at the end; (3.7) in chapter 03).
The formulas, the im2col implementation and the loop twins are in :mod:`minidl.functional.conv`:
the layer computes the cross-correlation (3.4) of chapter 03
(``chapters/03_linear_analysis_and_convolution.ipynb``); its cost is (1.1)/(1.3) of chapter 01,
the (2+1)-D block's (1.4)/(1.5).
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import as_tuple, check_positive_int
from minidl.functional.conv import conv_nd, conv_nd_backward
from minidl.functional.conv2plus1d import conv2plus1d_mid_channels
from minidl.functional.padding import output_sizes, resolve_padding
from minidl.init import INITIALIZERS, pytorch_default
from minidl.layers.activations import ReLU
from minidl.layers.base import Layer, check_dtype

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _normalize_padding(padding, nd):
    """'valid'/'same' (lower case) or a tuple of nd ints; validated by resolve_padding."""
    if isinstance(padding, str):
        resolve_padding(padding, (1,) * nd, (1,) * nd, (1,) * nd, (1,) * nd)
        return padding.lower()
    return tuple(
        lo for lo, _ in resolve_padding(padding, (1,) * nd, (1,) * nd, (1,) * nd, (1,) * nd)
    )


class _ConvND(Layer):
    r"""N-d convolution layer, :math:`y = w \star x + b` (cross-correlation, eq. 3.4).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, dilation : int or tuple of ``nd`` ints
    padding : int, tuple of ``nd`` ints, ``'valid'`` or ``'same'`` (TensorFlow SAME)
    groups : int
        Split channels into ``groups`` independent convolutions; ``groups = in_channels``
        is a depthwise convolution. Must divide both channel counts.
    bias : bool
        Learn an additive bias (stored as ``use_bias``; ``params['bias']`` is the array).
    init : str
        ``'pytorch'`` (PyTorch's default, weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
        or a name in :data:`minidl.init.INITIALIZERS` for the weight, bias then zero.
    dtype : float32 (default) or float64
    rng : numpy.random.Generator, int seed or None
    """

    nd = None

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        init="pytorch",
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        nd, name = self.nd, type(self).__name__
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size")
        self.stride = as_tuple(stride, nd, "stride")
        self.dilation = as_tuple(dilation, nd, "dilation")
        self.padding = _normalize_padding(padding, nd)
        self.groups = check_positive_int(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{name} groups={self.groups} must divide in_channels ({self.in_channels}) "
                f"and out_channels ({self.out_channels})"
            )
        self.use_bias = bool(bias)
        if init != "pytorch" and init not in INITIALIZERS:
            known = ", ".join(["'pytorch'"] + [repr(k) for k in INITIALIZERS])
            raise ValueError(f"init must be one of {known}, got {init!r}")
        self.init = init
        dt, rng = check_dtype(dtype), get_rng(rng)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        if init == "pytorch":
            weight, b = pytorch_default(shape, bias=self.use_bias, rng=rng, dtype=dt)
        else:
            weight = INITIALIZERS[init](shape, rng=rng, dtype=dt)
            b = np.zeros(self.out_channels, dtype=dt) if self.use_bias else None
        self.params["weight"], self.grads["weight"] = weight, np.zeros_like(weight)
        if self.use_bias:
            self.params["bias"], self.grads["bias"] = b, np.zeros_like(b)
        self._cache = None

    def output_shape(self, input_shape):
        """(N, out_channels, *out) with out per axis as in :mod:`minidl.functional.padding`."""
        name, c = type(self).__name__, self.in_channels
        input_shape = tuple(input_shape)
        if len(input_shape) != self.nd + 2 or input_shape[1] != c:
            raise ValueError(
                f"{name} expected input with {c} channels (N, {c}, {_AXES[self.nd]}), "
                f"got shape {input_shape}"
            )
        pads = resolve_padding(
            self.padding, input_shape[2:], self.kernel_size, self.stride, self.dilation
        )
        out = output_sizes(
            input_shape[2:], self.kernel_size, self.stride, self.dilation, pads,
            name=f"{name} kernel_size",
        )  # fmt: skip
        return (input_shape[0], self.out_channels) + out

    def forward(self, x):
        """(3.4) of chapter 03 by blocked im2col; caches the input (not its im2col matrix)."""
        x = self._check_input(x, ndim=self.nd + 2)
        self.output_shape(x.shape)  # channel and kernel-fit errors in this layer's words
        y, self._cache = conv_nd(
            x, self.params["weight"], self.params.get("bias"), self.stride, self.padding,
            self.dilation, self.groups, return_cache=True,
        )  # fmt: skip
        return y

    def backward(self, dy):
        """dx by col2im; writes grads['weight'] (and grads['bias']) in place."""
        return self._backward(dy, input_grad=True)

    def backward_params(self, dy):
        """Weight and bias gradients only: skips dcol and col2im (the first layer's case)."""
        self._backward(dy, input_grad=False)

    def _backward(self, dy, input_grad):
        cache = self._cache
        shape = None if cache is None else (cache.x.shape[0], self.out_channels) + cache.out
        dy = self._check_grad(dy, shape)
        dx, dw, db = conv_nd_backward(dy, cache, input_grad=input_grad)
        self.grads["weight"][...] = dw  # in place: a model's flat grads dict holds views
        if self.use_bias:
            self.grads["bias"][...] = db
        return dx

    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.use_bias,
            "init": self.init,
            "dtype": str(self.params["weight"].dtype),
        }


class Conv1D(_ConvND):
    __doc__ = "1-D convolution, input (N, C, L). " + _ConvND.__doc__
    nd = 1


class Conv2D(_ConvND):
    __doc__ = "2-D convolution, input (N, C, H, W). " + _ConvND.__doc__
    nd = 2


class Conv3D(_ConvND):
    __doc__ = "3-D convolution, input (N, C, D, H, W), D = time for video. " + _ConvND.__doc__
    nd = 3


class Conv2Plus1D(Layer):
    r"""(2+1)-D block (Tran et al., CVPR 2018): spatial conv, ReLU, temporal conv.

    .. math:: y = w_t \star \mathrm{ReLU}(w_s \star x + b_s) + b_t,                       (1.4)

    ``spatial`` is a ``Conv3D(in_channels, M, (1, k_h, k_w))`` and ``temporal`` a
    ``Conv3D(M, out_channels, (t, 1, 1))``. ``M = mid_channels`` defaults to
    :func:`minidl.functional.conv2plus1d.conv2plus1d_mid_channels`, (1.5), which makes the weights
    match the full ``t x k_h x k_w`` 3-D convolution. Stride and padding split by axis: the
    spatial conv takes the (H, W) parts, the temporal conv the D part ('same' / 'valid' apply
    to both), so the output shape equals the full 3-D conv's.

    ``params`` / ``grads`` are flat dicts with keys ``'spatial.weight'``, ``'spatial.bias'``,
    ``'temporal.weight'``, ``'temporal.bias'`` whose values are the sublayers' own arrays, so an
    optimizer updating ``params`` in place trains the sublayers.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        bias=True,
        mid_channels=None,
        init="pytorch",
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_tuple(kernel_size, 3, "kernel_size")
        self.stride = as_tuple(stride, 3, "stride")
        self.padding = _normalize_padding(padding, 3)
        self.use_bias = bool(bias)
        t, kh, kw = self.kernel_size
        if mid_channels is None:
            mid_channels = conv2plus1d_mid_channels(t, (kh, kw), in_channels, out_channels)
        self.mid_channels = check_positive_int(mid_channels, "mid_channels")
        self.init = init
        rng = get_rng(rng)
        pad = self.padding
        sp_pad, tm_pad = (pad, pad) if isinstance(pad, str) else ((0,) + pad[1:], pad[:1] + (0, 0))
        common = dict(bias=self.use_bias, init=init, dtype=dtype, rng=rng)
        sp_stride, tm_stride = (1,) + self.stride[1:], self.stride[:1] + (1, 1)
        self.spatial = Conv3D(
            self.in_channels, self.mid_channels, (1, kh, kw), sp_stride, sp_pad, **common
        )
        self.relu = ReLU()
        self.temporal = Conv3D(
            self.mid_channels, self.out_channels, (t, 1, 1), tm_stride, tm_pad, **common
        )
        for name, sub in (("spatial", self.spatial), ("temporal", self.temporal)):
            for key in sub.params:
                self.params[f"{name}.{key}"] = sub.params[key]
                self.grads[f"{name}.{key}"] = sub.grads[key]
        self._cache = None

    def _sync(self):
        """Point the sublayers at the flat dicts' arrays (in case an entry was reassigned)."""
        for name, sub in (("spatial", self.spatial), ("temporal", self.temporal)):
            for key in sub.params:
                sub.params[key] = self.params[f"{name}.{key}"]
                sub.grads[key] = self.grads[f"{name}.{key}"]

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        c = self.in_channels
        if len(input_shape) != 5 or input_shape[1] != c:
            raise ValueError(
                f"Conv2Plus1D expected input with {c} channels (N, {c}, D, H, W), "
                f"got shape {input_shape}"
            )
        return self.temporal.output_shape(self.spatial.output_shape(input_shape))

    def forward(self, x):
        x = self._check_input(x, ndim=5)
        out_shape = self.output_shape(x.shape)
        self._sync()
        y = self.temporal.forward(self.relu.forward(self.spatial.forward(x)))
        self._cache = out_shape
        return y

    def backward(self, dy):
        """Chain rule through temporal conv, ReLU, spatial conv; fills all four grads."""
        return self._backward(dy, input_grad=True)

    def backward_params(self, dy):
        """All four grads, without the input gradient of the spatial conv."""
        self._backward(dy, input_grad=False)

    def _backward(self, dy, input_grad):
        dy = self._check_grad(dy, self._cache)
        self._sync()
        d_mid = self.relu.backward(self.temporal.backward(dy))
        if input_grad:
            return self.spatial.backward(d_mid)
        return self.spatial.backward_params(d_mid)

    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "bias": self.use_bias,
            "mid_channels": self.mid_channels,
            "init": self.init,
            "dtype": str(self.spatial.params["weight"].dtype),
        }
