"""The one contract every op in :mod:`minidl.functional` follows, and its registry record.

For an op ``name`` (``conv2d``, ``max_pool2d``, ``batch_norm``, ``relu`` ...):

- ``name(...) -> y``: the plain call (the signature of ``torch.nn.functional.name``, where
  PyTorch has one);
- ``name_forward(...) -> (y, cache)``, same arguments; ``cache`` is a frozen dataclass holding
  what the backward needs;
- ``name_backward(dy, cache) -> grads``: a named tuple with the gradient of ``sum(y * dy)``
  with respect to each array argument of the forward, in the forward's order (``dx`` first),
  ``None`` for an argument that was not given (a missing bias) or not asked for (the
  convolutions' backward takes ``input_grad=False`` to skip ``dx``, half of their work);
- ``name_forward_naive`` / ``name_backward_naive``: the same formulas as plain loops, with
  exactly the same arguments and the same cache and grads types, so the tiers are
  interchangeable and the tests hold them equal.

Convolution and pooling have a third tier between the loops and the cache-blocked code that
the public functions run: ``conv_nd_forward_vectorized`` (im2col and one GEMM) and
``max_pool_forward_vectorized`` / ``avg_pool_forward_vectorized`` (a window view and a
reduction), a dozen lines each, written for reading. :data:`minidl.functional.OPS` lists every
op as an :class:`Op`; ``tests/functional/test_ops.py`` walks it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from minidl._validation import check_float_array


class InputGrad(NamedTuple):
    """Gradient of an op whose only array argument is ``x`` (activations, pooling, dropout)."""

    dx: np.ndarray


class ParamGrads(NamedTuple):
    """Gradients of an op of ``(x, weight, bias)`` (dense, convolution, batch norm); ``dx`` is
    None when not asked for, ``dweight`` / ``dbias`` when the forward had none."""

    dx: np.ndarray | None
    dweight: np.ndarray | None
    dbias: np.ndarray | None


@dataclass(frozen=True)
class Op:
    """One registry record: the op's functions and the matching PyTorch function's name.

    ``torch`` is the name in ``torch.nn.functional`` (None where PyTorch has no such function);
    ``forward_vectorized`` / ``backward_vectorized`` are the plain vectorized tier where the
    public functions run a faster, cache-blocked one (None elsewhere).
    """

    name: str
    plain: Callable
    forward: Callable
    backward: Callable
    forward_naive: Callable
    backward_naive: Callable
    torch: str | None = None
    forward_vectorized: Callable | None = None
    backward_vectorized: Callable | None = None


# ------------------------------------------------------------- the checks every backward runs
def check_cache(cache, cache_type, fn):
    """``cache`` if it is the ``cache_type`` a forward returned, else a TypeError naming it.

    A backward reads several fields of its cache; anything else (a bias array, a shape, a
    flag, another op's cache) would fail deep inside with numpy's or Python's own words.
    """
    if not isinstance(cache, cache_type):
        forward = fn.replace("_backward", "_forward")
        raise TypeError(
            f"{fn}: cache must be the {cache_type.__name__} that {forward} returned, "
            f"got {type(cache).__name__}"
        )
    return cache


def check_grad(dy, shape, dtype, fn):
    """The upstream gradient ``dy``: float32/float64 (an integer ``dy`` is a TypeError, never
    integer gradients), exactly the forward output's ``shape`` (never broadcast: a ``(4, 1)``
    ``dy`` for a ``(4, 5)`` output is a ValueError), returned in the forward's ``dtype`` (in
    its own where ``dtype`` is None)."""
    dy = check_float_array(dy, f"{fn} dy")
    shape = tuple(shape)
    if dy.shape != shape:
        raise ValueError(f"{fn}: dy must have the forward output's shape {shape}, got {dy.shape}")
    return dy if dtype is None else dy.astype(dtype, copy=False)
