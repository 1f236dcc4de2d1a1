r"""``conv_transpose1d``, ``conv_transpose2d``, ``conv_transpose3d``: the N-d transposed
convolution of :mod:`minidl.functional.conv_transpose` at a fixed rank, each with the five
functions of the op contract (``torch.nn.functional.conv_transpose{1,2,3}d``'s signature).

Shape: x (N, C_in, *in), weight (C_in, C_out / groups, *k), bias (C_out,) or None
-> y (N, C_out, *out), ``out = (in - 1) stride - 2 padding + dilation (k - 1) + output_padding
+ 1`` per axis.
"""

from minidl._validation import check_float_array
from minidl.functional import conv_transpose as core


def _rank_ops(nd):
    name = f"conv_transpose{nd}d"

    def check(x, weight):
        check_float_array(x, f"{name} x", ndim=nd + 2)
        check_float_array(weight, f"{name} weight", ndim=nd + 2)

    def forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                dilation=1):  # fmt: skip
        check(x, weight)
        return core.conv_transpose_nd_forward(x, weight, bias, stride, padding, output_padding,
                                              groups, dilation)  # fmt: skip

    def forward_naive(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1):  # fmt: skip
        check(x, weight)
        return core.conv_transpose_nd_forward_naive(x, weight, bias, stride, padding,
                                                    output_padding, groups, dilation)  # fmt: skip

    def plain(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        return forward(x, weight, bias, stride, padding, output_padding, groups, dilation)[0]

    def backward(dy, cache):
        return core.conv_transpose_nd_backward(dy, cache)

    def backward_naive(dy, cache):
        return core.conv_transpose_nd_backward_naive(dy, cache)

    ops = {"": plain, "_forward": forward, "_backward": backward,
           "_forward_naive": forward_naive, "_backward_naive": backward_naive}  # fmt: skip
    for suffix, fn in ops.items():
        fn.__name__ = fn.__qualname__ = name + suffix
        fn.__doc__ = f"The {nd}-D case of ``conv_transpose_nd{suffix}`` (x of rank {nd + 2})."
    plain.__doc__ = (
        f"{nd}-D transposed convolution (``torch.nn.functional.{name}``): the adjoint of "
        f"conv{nd}d in its input, weight (C_in, C_out/groups, *k); see the module docstring."
    )
    return {name + suffix: fn for suffix, fn in ops.items()}


_OPS = {**_rank_ops(1), **_rank_ops(2), **_rank_ops(3)}
conv_transpose1d = _OPS["conv_transpose1d"]
conv_transpose1d_forward = _OPS["conv_transpose1d_forward"]
conv_transpose1d_backward = _OPS["conv_transpose1d_backward"]
conv_transpose1d_forward_naive = _OPS["conv_transpose1d_forward_naive"]
conv_transpose1d_backward_naive = _OPS["conv_transpose1d_backward_naive"]
conv_transpose2d = _OPS["conv_transpose2d"]
conv_transpose2d_forward = _OPS["conv_transpose2d_forward"]
conv_transpose2d_backward = _OPS["conv_transpose2d_backward"]
conv_transpose2d_forward_naive = _OPS["conv_transpose2d_forward_naive"]
conv_transpose2d_backward_naive = _OPS["conv_transpose2d_backward_naive"]
conv_transpose3d = _OPS["conv_transpose3d"]
conv_transpose3d_forward = _OPS["conv_transpose3d_forward"]
conv_transpose3d_backward = _OPS["conv_transpose3d_backward"]
conv_transpose3d_forward_naive = _OPS["conv_transpose3d_forward_naive"]
conv_transpose3d_backward_naive = _OPS["conv_transpose3d_backward_naive"]
