r"""Transposed convolution layers: the base ``ConvTransposeND``, ``ConvTranspose1D/2D/3D``.

Arguments and parameter layout follow PyTorch's ``nn.ConvTransposeNd``: ``weight`` is
``(in_channels, out_channels / groups, *kernel_size)`` and ``bias`` ``(out_channels,)``, so a
PyTorch ``state_dict`` loads as is. The formulas are in
:mod:`minidl.functional.conv_transpose`; the output size per axis is
``(in - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``.
"""

import math

import numpy as np

from minidl._rng import get_rng
from minidl._validation import as_tuple, check_positive_int
from minidl.functional.conv_transpose import (
    conv_transpose_nd_backward,
    conv_transpose_nd_forward,
)
from minidl.layers.base import Cost, Layer, check_dtype, per_sample


class ConvTransposeND(Layer, register=False):
    r"""N-d transposed convolution layer (the adjoint of a convolution in its input); a
    subclass sets ``nd``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, output_padding, dilation : int or tuple of ``nd`` ints
        ``output_padding`` (added at the end of each axis) must be below stride or dilation.
    groups : int
    bias : bool
    dtype : float32 (default) or float64
    rng : numpy.random.Generator, int seed or None
        PyTorch's default initialization, weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        with PyTorch's fan_in of this layout, ``out_channels / groups * prod(kernel_size)``.
    """

    nd = None

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        nd = self.nd
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size")
        self.stride = as_tuple(stride, nd, "stride")
        self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.output_padding = as_tuple(output_padding, nd, "output_padding", minimum=0)
        self.dilation = as_tuple(dilation, nd, "dilation")
        self.groups = check_positive_int(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} groups={self.groups} must divide "
                f"in_channels ({self.in_channels}) and out_channels "
                f"({self.out_channels})"
            )
        if any(
            e >= max(s, d)
            for e, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True)
        ):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation, got {self.output_padding}"
            )
        self.use_bias = bool(bias)
        dt = check_dtype(dtype)
        shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        self.params = {"weight": np.zeros(shape, dtype=dt)}
        if self.use_bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=dt)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._initialize(rng)

    def reset_parameters(self, rng=None):
        """U(-b, b) for weight and bias, b = 1/sqrt(out_channels/groups * prod(kernel_size))."""
        rng = get_rng(rng)
        w = self.params["weight"]
        bound = 1.0 / math.sqrt(w.shape[1] * math.prod(self.kernel_size))
        for a in self.params.values():
            a[...] = rng.uniform(-bound, bound, size=a.shape)

    def output_shape(self, input_shape):
        input_shape, c = tuple(input_shape), self.in_channels
        if len(input_shape) != self.nd + 2 or input_shape[1] != c:
            raise ValueError(
                f"{type(self).__name__} expected input with {c} channels, "
                f"(N, {c}, ...) of rank {self.nd + 2}, got shape {input_shape}"
            )
        out = tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + e + 1
            for n, s, p, d, k, e in zip(
                input_shape[2:],
                self.stride,
                self.padding,
                self.dilation,
                self.kernel_size,
                self.output_padding,
                strict=True,
            )
        )
        if min(out) < 1:
            raise ValueError(f"{type(self).__name__} output size {out} is not positive")
        return (input_shape[0], self.out_channels) + out

    def cost(self, input_shape, dtype=np.float32):
        """Each input value scatters a kernel: MACs = prod(in) C_in (C_out/g) prod(k); FLOPs =
        2 MACs + one bias add per output value; the input is cached."""
        out = self.output_shape(input_shape)
        macs = (
            math.prod(input_shape[2:])
            * self.in_channels
            * (self.out_channels // self.groups)
            * math.prod(self.kernel_size)
        )
        flops = 2 * macs + (per_sample(out) if self.use_bias else 0)
        return Cost(macs, flops, per_sample(input_shape) * np.dtype(dtype).itemsize)

    def forward(self, x):
        x = self._check_input(x, ndim=self.nd + 2)
        self.output_shape(x.shape)
        y, self._cache = conv_transpose_nd_forward(
            x,
            self.params["weight"],
            self.params.get("bias"),
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )
        return y

    def backward(self, dy):
        """``dx`` (the convolution of dy by the weight); writes grads in place."""
        c = self._cache
        shape = None if c is None else (c.x.shape[0], self.out_channels) + c.out
        grads = conv_transpose_nd_backward(self._check_grad(dy, shape), c)
        self.grads["weight"][...] = grads.dweight
        if self.use_bias:
            self.grads["bias"][...] = grads.dbias
        return grads.dx

    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "groups": self.groups,
            "bias": self.use_bias,
            "dilation": list(self.dilation),
            "dtype": str(self.params["weight"].dtype),
        }


class ConvTranspose1D(ConvTransposeND):
    __doc__ = "1-D transposed convolution, input (N, C, L). " + ConvTransposeND.__doc__
    nd = 1


class ConvTranspose2D(ConvTransposeND):
    __doc__ = "2-D transposed convolution, input (N, C, H, W). " + ConvTransposeND.__doc__
    nd = 2


class ConvTranspose3D(ConvTransposeND):
    __doc__ = "3-D transposed convolution, input (N, C, D, H, W). " + ConvTransposeND.__doc__
    nd = 3
