"""Wrappers around a runner whose function's conventions differ from minidl's
(:mod:`minidl.conformance.adapters` describes runners):

- :func:`channels_last`: the function takes and returns channels-last arrays (NHWC, NDHWC,
  NLC); with ``weight_layout='hwio'`` its convolution weight is TensorFlow's
  ``(*kernel, C_in, C_out)`` too. Inputs, ``dy``, outputs and gradients are transposed.
- :func:`explicit_padding`: the function accepts only integer padding (PyTorch's
  ``padding='same'`` refuses stride > 1). ``'same'``/``'valid'`` are resolved with minidl's
  TensorFlow rule, ``x`` is zero-padded (the extra zero at the end) and the function is called
  with ``padding=0``; the input gradient is cropped back.

Gradients that are not a dict (a :class:`~minidl.conformance.failures.Raised` backward, or
:class:`~minidl.conformance.failures.NotCompared`) pass through unchanged.
"""

import numpy as np

from minidl._validation import as_tuple
from minidl.functional.windows import interior, pad_array, resolve_padding


def _inherit(run, runner):
    run.can_grad = getattr(runner, "can_grad", False)
    run.torch = getattr(runner, "torch", False)
    return run


def _weight_perm(ndim, weight_layout):
    """Axes taking an (O, I, *k) weight to the function's layout, and back."""
    if weight_layout == "oihw":
        return None
    if weight_layout != "hwio":
        raise ValueError(f"weight_layout must be 'oihw' or 'hwio', got {weight_layout!r}")
    perm = tuple(range(2, ndim)) + (1, 0)
    return perm, tuple(np.argsort(perm))


def channels_last(runner, family, weight_layout="oihw"):
    """Wrap a runner whose function takes and returns channels-last arrays."""
    if not family.layout:
        raise ValueError(f"family {family.name} has no channel axis for the channels_last adapter")

    def to_last(a):
        return None if a is None else np.moveaxis(a, 1, -1)

    def run(inputs, kwargs, dy=None):
        inputs = dict(inputs)
        inputs["x"] = to_last(inputs["x"])
        perm = None
        if "weight" in family.args:  # a convolution weight; batch norm's is per channel
            perm = _weight_perm(inputs["weight"].ndim, weight_layout)
        if perm is not None:
            inputs["weight"] = inputs["weight"].transpose(perm[0])
        outputs, grads = runner(inputs, kwargs, to_last(dy))
        y = outputs.get("y")
        if y is not None and np.ndim(y) >= 2:
            outputs = dict(outputs, y=np.moveaxis(y, -1, 1))
        if isinstance(grads, dict):
            grads = dict(grads)
            if grads.get("x") is not None:
                grads["x"] = np.moveaxis(grads["x"], -1, 1)
            if perm is not None and grads.get("weight") is not None:
                grads["weight"] = grads["weight"].transpose(perm[1])
        return outputs, grads

    return _inherit(run, runner)


def explicit_padding(runner, family):
    """Wrap a runner whose function takes integer padding only (see the module docstring)."""

    def run(inputs, kwargs, dy=None):
        padding = kwargs.get("padding")
        if not isinstance(padding, str) or "weight" not in inputs:
            return runner(inputs, kwargs, dy)
        x, weight = inputs["x"], inputs["weight"]
        nd = x.ndim - 2
        pads = resolve_padding(
            padding,
            x.shape[2:],
            weight.shape[2:],
            as_tuple(_kwarg("stride", kwargs), nd, "stride"),
            as_tuple(_kwarg("dilation", kwargs), nd, "dilation"),
        )
        inputs = dict(inputs, x=pad_array(x, pads))
        outputs, grads = runner(inputs, dict(kwargs, padding=0), dy)
        if isinstance(grads, dict) and grads.get("x") is not None:
            gx = grads["x"]
            if np.shape(gx) == inputs["x"].shape:  # else compared as is: a shape mismatch
                grads = dict(grads, x=gx[interior(pads, x.shape[2:])])
        return outputs, grads

    return _inherit(run, runner)


def _kwarg(name, kwargs):
    v = kwargs.get(name, 1)
    return tuple(v) if isinstance(v, list) else v  # JSON stores tuples as lists


WRAPPERS = {
    "nhwc": channels_last,
    "nhwc_hwio": lambda r, f: channels_last(r, f, weight_layout="hwio"),
    "explicit_padding": explicit_padding,
}


def ordered(wrappers):
    """Layout wrappers innermost (next to the function), padding outermost: the padding
    wrapper then works on minidl's channels-first arrays, whatever order the spec names."""
    return sorted(set(wrappers), key=list(WRAPPERS).index)
