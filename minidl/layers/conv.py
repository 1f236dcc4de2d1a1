r"""Convolution layers: the public base ``ConvND``, ``Conv1D/2D/3D`` on it, and ``Conv2Plus1D``.

Arguments and parameter layout follow PyTorch's ``nn.ConvNd``: ``weight`` is
``(out_channels, in_channels / groups, *kernel_size)`` and ``bias`` is ``(out_channels,)``, so a
PyTorch ``state_dict`` loads as is. ``padding`` also takes ``'valid'`` and TensorFlow's
``'same'`` (asymmetric when stride > 1: the extra zero goes at the end; (3.7) in chapter 03).
The formulas and their three tiers are in :mod:`minidl.functional.conv`: the layer computes the
cross-correlation (3.4) of chapter 03 (``chapters/03_linear_analysis_and_convolution.ipynb``);
its cost is (1.1)/(1.3) of chapter 01, the (2+1)-D block's (1.4)/(1.5).
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import as_tuple, check_positive_int
from minidl.functional.conv import conv_nd_backward, conv_nd_forward
from minidl.functional.windows import resolve_padding, window_geometry
from minidl.layers.activations import ReLU
from minidl.layers.base import Cost, Layer, check_dtype, gather, per_sample
from minidl.layers.complexity_formulas import conv_flops, conv_macs, mid_channels_tran
from minidl.layers.init import check_init, reset_weight_and_bias, weight_and_bias

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _normalize_padding(padding, nd):
    """'valid'/'same' (lower case) or a tuple of nd ints; validated by resolve_padding."""
    pads = resolve_padding(padding, (1,) * nd, (1,) * nd, (1,) * nd, (1,) * nd)
    return padding.lower() if isinstance(padding, str) else tuple(lo for lo, _ in pads)


def _padding_config(padding):
    return padding if isinstance(padding, str) else list(padding)


class ConvND(Layer, register=False):
    r"""N-d convolution layer, :math:`y = w \star x + b` (cross-correlation, eq. 3.4); a
    subclass sets ``nd``, the number of spatial axes.

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
        or a name in :data:`minidl.layers.init.INITIALIZERS` for the weight, bias then zero.
    dtype : float32 (default) or float64
    rng : numpy.random.Generator, int seed or None
        Passed to :meth:`reset_parameters`.
    """

    nd = None

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
        bias=True, init="pytorch", dtype=np.float32, rng=None,
    ):  # fmt: skip
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
        self.init = check_init(init)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.params = weight_and_bias(shape, self.use_bias, check_dtype(dtype))
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._initialize(rng)

    def reset_parameters(self, rng=None):
        """Draw ``weight`` (and ``bias``) by ``init`` from ``rng``, into the existing arrays."""
        reset_weight_and_bias(self.params, self.init, get_rng(rng))

    def output_shape(self, input_shape):
        """(N, out_channels, *out) with out per axis as in :mod:`minidl.functional.windows`."""
        name, c = type(self).__name__, self.in_channels
        input_shape = tuple(input_shape)
        if len(input_shape) != self.nd + 2 or input_shape[1] != c:
            raise ValueError(
                f"{name} expected input with {c} channels (N, {c}, {_AXES[self.nd]}), "
                f"got shape {input_shape}"
            )
        win = window_geometry(
            input_shape[2:], self.kernel_size, self.stride, self.padding, self.dilation,
            name=f"{name} kernel_size",
        )  # fmt: skip
        return (input_shape[0], self.out_channels) + win.out

    def cost(self, input_shape, dtype=np.float32):
        """(1.1)-(1.3): MACs and FLOPs of the output; the input is cached (im2col is not)."""
        args = (self.in_channels, self.out_channels, self.kernel_size)
        out = self.output_shape(input_shape)[2:]
        macs = conv_macs(*args, out, groups=self.groups)
        flops = conv_flops(*args, out, groups=self.groups, bias=self.use_bias)
        return Cost(macs, flops, per_sample(input_shape) * np.dtype(dtype).itemsize)

    def forward(self, x):
        """(3.4) of chapter 03 by blocked im2col; caches the input (not its im2col matrix)."""
        x = self._check_input(x, ndim=self.nd + 2)
        self.output_shape(x.shape)  # channel and kernel-fit errors in this layer's words
        y, self._cache = conv_nd_forward(
            x, self.params["weight"], self.params.get("bias"), self.stride, self.padding,
            self.dilation, self.groups,
        )  # fmt: skip
        return y

    def backward(self, dy):
        """dx by col2im; writes grads['weight'] (and grads['bias']) in place."""
        return self._backward(dy, input_grad=True)

    def backward_params(self, dy):
        """Weight and bias gradients only: skips dcol and col2im (the first layer's case)."""
        self._backward(dy, input_grad=False)

    def _backward(self, dy, input_grad):
        c = self._cache
        shape = None if c is None else (c.x.shape[0], self.out_channels) + c.windows.out
        grads = conv_nd_backward(self._check_grad(dy, shape), c, input_grad=input_grad)
        self.grads["weight"][...] = grads.dweight  # in place: a model's grads dict holds them
        if self.use_bias:
            self.grads["bias"][...] = grads.dbias
        return grads.dx

    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": _padding_config(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.use_bias,
            "init": self.init,
            "dtype": str(self.params["weight"].dtype),
        }


class Conv1D(ConvND):
    __doc__ = "1-D convolution, input (N, C, L). " + ConvND.__doc__
    nd = 1


class Conv2D(ConvND):
    __doc__ = "2-D convolution, input (N, C, H, W). " + ConvND.__doc__
    nd = 2


class Conv3D(ConvND):
    __doc__ = "3-D convolution, input (N, C, D, H, W), D = time for video. " + ConvND.__doc__
    nd = 3


class Conv2Plus1D(Layer):
    r"""(2+1)-D block (Tran et al., CVPR 2018): spatial conv, ReLU, temporal conv.

    .. math:: y = w_t \star \mathrm{ReLU}(w_s \star x + b_s) + b_t,                       (1.4)

    ``spatial`` is a ``Conv3D(in_channels, M, (1, k_h, k_w))`` and ``temporal`` a
    ``Conv3D(M, out_channels, (t, 1, 1))``. ``M = mid_channels`` defaults to
    :func:`minidl.layers.complexity_formulas.mid_channels_tran`, (1.5), which makes the weights
    match the full ``t x k_h x k_w`` 3-D convolution. Stride and padding split by axis: the spatial
    conv takes the (H, W) parts, the temporal conv the D part ('same' / 'valid' apply to both), so
    the output shape equals the full 3-D conv's.

    The two convolutions own the arrays; ``params`` / ``grads`` show them under the keys
    ``'spatial.weight'``, ``'spatial.bias'``, ``'temporal.weight'``, ``'temporal.bias'``.
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
        mid_channels=None, init="pytorch", dtype=np.float32, rng=None,
    ):  # fmt: skip
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_tuple(kernel_size, 3, "kernel_size")
        self.stride = as_tuple(stride, 3, "stride")
        self.padding = _normalize_padding(padding, 3)
        self.use_bias = bool(bias)
        t, kh, kw = self.kernel_size
        if mid_channels is None:
            mid_channels = mid_channels_tran(t, (kh, kw), in_channels, out_channels)
        self.mid_channels = check_positive_int(mid_channels, "mid_channels")
        self.init = init
        pad, rng = self.padding, get_rng(rng)
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

    def _parts(self):
        return (("spatial", self.spatial), ("temporal", self.temporal))

    params = property(lambda self: gather(self._parts(), "params"), doc="The parts' parameters.")
    grads = property(lambda self: gather(self._parts(), "grads"), doc="The parts' gradients.")
    buffers = property(lambda self: gather(self._parts(), "buffers"), doc="The parts' buffers.")

    def reset_parameters(self, rng=None):
        """Both convolutions', spatial first (the order ``__init__`` draws them in)."""
        rng = get_rng(rng)
        self.spatial.reset_parameters(rng)
        self.temporal.reset_parameters(rng)

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        c = self.in_channels
        if len(input_shape) != 5 or input_shape[1] != c:
            raise ValueError(
                f"Conv2Plus1D expected input with {c} channels (N, {c}, D, H, W), "
                f"got shape {input_shape}"
            )
        return self.temporal.output_shape(self.spatial.output_shape(input_shape))

    def cost(self, input_shape, dtype=np.float32):
        """(1.4): the two convolutions' costs plus the ReLU between them (1 FLOP a value)."""
        self.output_shape(input_shape)
        mid_shape = self.spatial.output_shape(input_shape)
        sp, tm = self.spatial.cost(input_shape, dtype), self.temporal.cost(mid_shape, dtype)
        relu = self.relu.cost(mid_shape, dtype)
        return Cost(*(a + b + c for a, b, c in zip(sp, tm, relu, strict=True)))

    def forward(self, x):
        x = self._check_input(x, ndim=5)
        self._cache = self.output_shape(x.shape)
        return self.temporal.forward(self.relu.forward(self.spatial.forward(x)))

    def backward(self, dy):
        """Chain rule through temporal conv, ReLU, spatial conv; fills all four grads."""
        return self._backward(dy, input_grad=True)

    def backward_params(self, dy):
        """All four grads, without the input gradient of the spatial conv."""
        self._backward(dy, input_grad=False)

    def _backward(self, dy, input_grad):
        dy = self._check_grad(dy, self._cache)
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
            "padding": _padding_config(self.padding),
            "bias": self.use_bias,
            "mid_channels": self.mid_channels,
            "init": self.init,
            "dtype": str(self.spatial.params["weight"].dtype),
        }
