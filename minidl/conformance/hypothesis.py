"""What the hypothesis modules share: the registry decorator, minidl's outputs and gradients
under other arguments (most mistakes *are* minidl called with another padding, eps, weight...),
and the rerun of a candidate with one more layout wrapper. The protocol is in
:mod:`minidl.conformance.diagnose`."""

import numpy as np

from minidl.conformance.adapters import _value, numpy_adapter
from minidl.conformance.reference import REFERENCE
from minidl.functional.windows import interior, pad_array

__all__ = ["_value", "minidl_outputs", "registrar", "rerun", "tup"]


def registrar(table):
    """A decorator ``@hypothesis(*families)`` that lists the function in ``table[family]``."""

    def hypothesis(*families):
        def register(fn):
            for f in families:
                table.setdefault(f, []).append(fn)
            return fn

        return register

    return hypothesis


def tup(v, nd):
    """An int or a JSON list as a tuple of ``nd`` values."""
    return (v,) * nd if isinstance(v, (int, np.integer)) else tuple(v)


def minidl_outputs(family, case, inputs=None, pads=None, dy=None, **kwargs):
    """minidl's outputs and gradients on ``case`` with other ``inputs`` or keyword values,
    named as the checker names them (``'y'``, ``'running_var'``, ``'grad x'``...).

    ``pads`` (``((lo, hi), ...)`` per spatial axis): ``x`` is zero-padded first and the op
    called with ``padding=0``; the gradient of ``x`` is cropped back to the case's ``x``. The
    gradients are those of ``sum(y * dy)`` with the case's ``dy`` (none without one) or the
    ``dy`` given. Arguments minidl refuses (a padding larger than half the kernel) predict
    nothing: ``{}``.
    """
    forward, backward = REFERENCE[family.name]
    inputs = dict(case.inputs if inputs is None else inputs)
    kw = dict(case.kwargs, **kwargs)
    x = inputs.get("x")
    if pads is not None:
        inputs["x"] = pad_array(x, pads)
        kw["padding"] = 0
    run = numpy_adapter(forward, family, backward)
    try:
        outputs, grads = run(inputs, kw, case.dy if dy is None else dy)
    except (ValueError, TypeError):  # minidl refuses the mistaken arguments: nothing predicted
        return {}
    result = dict(outputs)
    for name, g in (grads if isinstance(grads, dict) else {}).items():
        if name == "x" and pads is not None:
            g = g[interior(pads, x.shape[2:])]
        result[f"grad {name}"] = g
    return result


def rerun(run, wrapper, case, inputs=None):
    """The candidate's outputs with one more wrapper (``'nhwc'``...), forward only; None when
    the runner cannot be varied or the candidate raises on it."""
    if not hasattr(run, "variant"):
        return None  # a hand-made runner: no way to insert the layout change
    try:
        return run.variant(wrapper)(case.inputs if inputs is None else inputs, case.kwargs)[0]
    except Exception:  # noqa: BLE001 - a candidate may fail in any way on this layout
        return None


def forward_only(run, inputs, kwargs):
    return run(inputs, kwargs)[0]


def kwarg(case, name, default=None):
    v = _value(name, {}, case.kwargs)
    return default if v is None else v
