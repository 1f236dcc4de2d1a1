"""Adapters: turn someone's function into a *runner* the checker can call on every case.

A runner is ``run(inputs, kwargs, dy=None) -> (outputs, grads)``: ``inputs`` a dict of NumPy
arrays, ``kwargs`` the case's keyword values, ``dy`` the upstream gradient (or None for the
forward only); ``outputs`` a dict of arrays named as ``family.outputs``, ``grads`` a dict of
gradients named as ``family.grad_wrt``, or None when the runner cannot differentiate. When the
gradients exist but cannot be compared, ``grads`` says why instead of being a dict: a
:class:`~minidl.conformance.failures.Raised` for a backward that raised (the forward's outputs
are still returned and compared) or a :class:`~minidl.conformance.failures.NotCompared` for a
forward of the wrong shape. An exception of the forward propagates. Runners never modify the
arrays they are given (the backward gets a copy of ``dy``). A family with several outputs
(``choose_qparams``: scale and zero point) expects them returned as a tuple; a list argument or
output (the ``weights`` and ``masks`` of ``global_magnitude_masks``, ``family.sequences``) is
stored as ``name.0``, ``name.1``, ... and passed and returned as a Python list. Adapters that
make a runner:

- :func:`numpy_adapter` (the default): a plain NumPy function with the family's signature
  (see :mod:`minidl.conformance.cases`). Gradients need ``backward``: then the function returns
  ``(y, cache)`` and ``backward(dy, cache)`` returns the gradients in the order of
  ``family.grad_wrt`` (the CS231n ``*_forward``/``*_backward`` habit and minidl's own op
  contract). Estimator families take a class with scikit-learn's API.
- :func:`torch_adapter`: a PyTorch function (``torch.nn.functional.conv2d``, your own
  ``nn.Module`` call...) taking and returning tensors. Inputs become float64 tensors (integer
  labels ``int64``), gradients come from autograd (``y.backward(dy)``), a quantized output is
  read through ``int_repr()``. torch is imported when the adapter runs, never by minidl.
- :func:`minidl.conformance.layer.layer_adapter`: a stateful layer object (``check_layer``).

The wrappers of :mod:`minidl.conformance.wrappers` adapt a runner whose conventions differ
from minidl's (channels-last layouts, integer-only padding). :func:`build` parses a spec such
as ``'torch+explicit_padding'`` or ``'nhwc'``; the order of the wrappers in it does not matter
(layout next to the function, padding outside it).
"""

import importlib

import numpy as np

from minidl.conformance.failures import NotCompared, Raised, option
from minidl.conformance.wrappers import WRAPPERS, channels_last, explicit_padding, ordered

__all__ = ["build", "channels_last", "explicit_padding", "numpy_adapter", "torch_adapter"]


def _value(name, inputs, kwargs):
    if name in inputs:
        return inputs[name]
    if f"{name}.0" in inputs:  # a list of arrays, stored as name.0, name.1, ...
        return [inputs[f"{name}.{i}"] for i in range(len(inputs)) if f"{name}.{i}" in inputs]
    if name in kwargs:
        v = kwargs[name]
        return tuple(v) if isinstance(v, list) else v  # JSON stores tuples as lists
    return None  # an optional array the case leaves out (bias=None)


def call_args(family, inputs, kwargs):
    """The positional and keyword arguments of ``family``'s signature for one case."""
    args = [_value(a, inputs, kwargs) for a in family.args]
    kw = {k: _value(k, inputs, kwargs) for k in family.keywords if k in inputs or k in kwargs}
    kw.update({k: _value(k, inputs, {}) for k in family.keywords if f"{k}.0" in inputs})
    return args, kw


def returned(family):
    """The outputs the candidate returns (the others are inputs it updates in place)."""
    return [o for o in family.outputs if o not in family.mutated]


def _collect(family, result, inputs):
    """The named outputs of one call: ``result`` is the returned value (a tuple when the family
    returns several, a list for a sequence output), the mutated arrays are read from ``inputs``."""
    names = returned(family)
    values = (result,)
    if len(names) > 1:
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = f"a tuple of {len(result)}" if isinstance(result, (tuple, list)) else "one value"
            raise TypeError(
                f"{family.name} candidate returned {got}, expected a tuple ({', '.join(names)})"
            )
        values = tuple(result)
    outputs = {}
    for name, value in zip(names, values, strict=True):
        if name not in family.sequences:
            outputs[name] = value
            continue
        if isinstance(value, dict) or not isinstance(value, (tuple, list)):
            raise TypeError(
                f"{family.name} candidate must return {name} as a list of arrays in the order of "
                f"the input list, got {type(value).__name__}"
            )
        outputs.update({f"{name}.{i}": v for i, v in enumerate(value)})
    for name in family.mutated:
        outputs[name] = inputs[name]
    return outputs


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def unpack_forward(family, result):
    """``(y, cache)`` from the forward of a runner that has a backward, or a clear error."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"with {option('backward')} the forward must return (y, cache); "
            f"it returned {_describe(result)}"
        )
    return result


def gradients(family, y_shape, dy, call_backward, present):
    """Run ``call_backward()`` (which gets a copy of ``dy``) and name its gradients in the order
    of ``family.grad_wrt``; the names not in ``present`` (an absent bias) are dropped. Returns
    :class:`NotCompared` for a forward of the wrong shape and :class:`Raised` for a backward
    that raised (the forward is still compared)."""
    if tuple(y_shape) != np.shape(dy):
        return NotCompared(
            f"the forward's {family.outputs[0]} has shape {tuple(y_shape)}, expected "
            f"{np.shape(dy)}, so there is no upstream gradient of its shape to give the backward"
        )
    try:
        g = call_backward()
    except Exception as err:  # noqa: BLE001 - any failure of the candidate is reported
        return Raised.from_exception(err)
    g = (g,) if not isinstance(g, (tuple, list)) else tuple(g)
    return {name: gi for name, gi in zip(family.grad_wrt, g, strict=False) if name in present}


def numpy_adapter(fn, family, backward=None):
    """Runner for a NumPy function (or an estimator class) with ``family``'s signature."""

    def run(inputs, kwargs, dy=None):
        inputs = {k: np.array(v, copy=True) for k, v in inputs.items()}  # mutated ones too
        if family.kind == "estimator":
            est = fn(**kwargs).fit(*(inputs[a] for a in family.args))
            return {o: np.asarray(getattr(est, o)) for o in family.outputs}, None
        args, kw = call_args(family, inputs, kwargs)
        result = fn(*args, **kw)
        grads = None
        single = len(returned(family)) == 1 and not family.sequences
        if backward is None and single and isinstance(result, tuple):
            raise TypeError(
                f"{family.name} candidate returned a tuple of {len(result)}, expected the output "
                f"array; a (y, cache) forward needs {option('backward')}"
            )
        if backward is not None:
            result, cache = unpack_forward(family, result)
            if dy is not None:
                grads = gradients(
                    family,
                    np.shape(result),
                    dy,
                    lambda: backward(np.array(dy, copy=True), cache),
                    inputs,
                )
        outputs = _collect(family, result, inputs)
        return {k: np.asarray(v) for k, v in outputs.items()}, grads

    run.can_grad = backward is not None and bool(family.grad_wrt)
    return run


def _to_numpy(t):
    if getattr(t, "is_quantized", False):
        t = t.int_repr()
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def torch_adapter(fn, family):
    """Runner for a PyTorch function; autograd gives the gradients (torch imported lazily)."""
    if family.kind == "estimator":
        raise ValueError(f"the torch adapter does not apply to the estimator family {family.name}")

    def run(inputs, kwargs, dy=None):
        torch = importlib.import_module("torch")
        tensors = {}
        for name, v in inputs.items():
            t = torch.from_numpy(np.array(v, copy=True))
            if name == "target" and not t.is_floating_point():
                t = t.long()  # PyTorch's dtype for class labels
            if dy is not None and name in family.grad_wrt and t.is_floating_point():
                t.requires_grad_(True)
            tensors[name] = t
        args, kw = call_args(family, tensors, kwargs)
        with torch.set_grad_enabled(dy is not None):
            y = fn(*args, **kw)
        grads = None
        if dy is not None:

            def call_backward():
                y.backward(torch.as_tensor(np.array(dy, copy=True), dtype=y.dtype))
                return tuple(
                    None
                    if getattr(tensors.get(name), "grad", None) is None
                    else _to_numpy(tensors[name].grad)
                    for name in family.grad_wrt
                )

            grads = gradients(family, tuple(y.shape), dy, call_backward, tensors)
            if isinstance(grads, dict):
                grads = {k: v for k, v in grads.items() if v is not None}
        outputs = _collect(family, y, tensors)
        return {k: _to_numpy(v) for k, v in outputs.items()}, grads

    run.can_grad = bool(family.grad_wrt)
    run.torch = True
    return run


BASES = {"numpy": numpy_adapter, "torch": torch_adapter}


def parse(spec):
    """``(base, wrappers)`` of a spec string ``'base+wrapper+...'`` (base ``numpy`` if absent)."""
    if not isinstance(spec, str):
        raise TypeError(f"adapter must be None, a string or a callable, got {spec!r}")
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts or parts[0] not in BASES:
        parts.insert(0, "numpy")
    unknown = [p for p in parts[1:] if p not in WRAPPERS]
    if unknown:
        raise ValueError(
            f"adapter must be 'numpy' or 'torch' followed by '+' wrappers from "
            f"{sorted(WRAPPERS)}, got {spec!r}"
        )
    return parts[0], parts[1:]


def build(spec, fn, family, backward=None, base=None):
    """Runner for ``fn`` from ``spec``: None, a callable ``spec(fn, family) -> runner``, or a
    string ``'base+wrapper+...'`` with base ``numpy`` (default) or ``torch`` and wrappers from
    ``nhwc``, ``nhwc_hwio``, ``explicit_padding`` (e.g. ``'nhwc'``, ``'torch+explicit_padding'``).
    ``base``, a function of no arguments returning a runner, replaces the numpy base (the layer
    adapter). The runner's ``wrappers`` lists the wrappers in use, and ``variant(extra)`` makes
    the same runner with one more wrapper (the diagnosis reruns the candidate that way)."""
    if spec is None:
        spec = "numpy"
    if callable(spec):
        return spec(fn, family)
    kind, wrappers = parse(spec)
    if kind == "torch" and backward is not None:
        raise ValueError(f"{option('backward')} is for the numpy adapter; torch uses autograd")
    if kind == "torch" and base is not None:
        raise ValueError("a layer is checked with the numpy adapter and its wrappers, not torch")

    def chain(wrappers):
        if base is not None:
            runner = base()
        elif kind == "torch":
            runner = torch_adapter(fn, family)
        else:
            runner = numpy_adapter(fn, family, backward)
        for w in wrappers:
            runner = WRAPPERS[w](runner, family)
        runner.wrappers = tuple(wrappers)
        # the diagnosis reruns the candidate with one more convention changed, applied first
        # (closest to the function): e.g. variant('nhwc') tests "it reads channels-last"
        runner.variant = lambda extra: chain(ordered([extra, *wrappers]))
        return runner

    return chain(ordered(wrappers))
