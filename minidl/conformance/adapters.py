"""Adapters: turn someone's function into a *runner* the checker can call on every case.

A runner is ``run(inputs, kwargs, dy=None) -> (outputs, grads)``: ``inputs`` a dict of NumPy
arrays, ``kwargs`` the case's keyword values, ``dy`` the upstream gradient (or None for the
forward only); ``outputs`` a dict of arrays named as ``family.outputs``, ``grads`` a dict of
gradients named as ``family.grad_wrt`` (None when the runner cannot differentiate). Runners
never modify the arrays they are given. A family with several outputs (``choose_qparams``:
scale and zero point) expects them returned as a tuple; a list argument or output (the
``weights`` and ``masks`` of ``global_magnitude_masks``, ``family.sequences``) is stored as
``name.0``, ``name.1``, ... and passed and returned as a Python list. Two adapters make a
runner from a function:

- :func:`numpy_adapter` (the default): a plain NumPy function with the family's signature
  (see :mod:`minidl.conformance.cases`). Gradients need ``backward``: then the function returns
  ``(y, cache)`` and ``backward(dy, cache)`` returns the gradients in the order of
  ``family.grad_wrt`` (the CS231n ``*_forward``/``*_backward`` habit and minidl's own op
  contract). Estimator families take a class with scikit-learn's API.
- :func:`torch_adapter`: a PyTorch function (``torch.nn.functional.conv2d``, your own
  ``nn.Module`` call...) taking and returning tensors. Inputs become float64 tensors (integer
  labels ``int64``), gradients come from autograd (``y.backward(dy)``), a quantized output is
  read through ``int_repr()``. torch is imported when the adapter runs, never by minidl.

Two wrappers adapt a runner whose conventions differ from minidl's:

- :func:`channels_last`: the function takes and returns channels-last arrays (NHWC, NDHWC,
  NLC); with ``weight_layout='hwio'`` its convolution weight is TensorFlow's
  ``(*kernel, C_in, C_out)`` too. Inputs, ``dy``, outputs and gradients are transposed.
- :func:`explicit_padding`: the function accepts only integer padding (PyTorch's
  ``padding='same'`` refuses stride > 1). ``'same'``/``'valid'`` are resolved with minidl's
  TensorFlow rule, ``x`` is zero-padded (the extra zero at the end) and the function is called
  with ``padding=0``; the input gradient is cropped back.

:func:`build` parses a spec such as ``'torch+explicit_padding'`` or ``'nhwc'``; the order of
the wrappers in it does not matter (layout next to the function, padding outside it).
"""

import importlib

import numpy as np

from minidl._validation import as_tuple
from minidl.functional.windows import interior, pad_array, resolve_padding


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
                "array; a (y, cache) forward needs backward="
            )
        if backward is not None:
            result, cache = result
            # a forward of the wrong shape has no gradient to compare: report it missing
            if dy is not None and np.shape(result) != np.shape(dy):
                grads = {}
            elif dy is not None:
                g = backward(dy, cache)
                g = (g,) if isinstance(g, np.ndarray) else tuple(g)
                grads = {
                    name: gi for name, gi in zip(family.grad_wrt, g, strict=False) if name in inputs
                }
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
        if dy is not None and tuple(y.shape) != np.shape(dy):
            grads = {}  # a forward of the wrong shape: gradients reported missing
        elif dy is not None:
            y.backward(torch.as_tensor(np.asarray(dy), dtype=y.dtype))
            grads = {
                name: _to_numpy(tensors[name].grad)
                for name in family.grad_wrt
                if name in tensors and tensors[name].grad is not None
            }
        outputs = _collect(family, y, tensors)
        return {k: _to_numpy(v) for k, v in outputs.items()}, grads

    run.can_grad = bool(family.grad_wrt)
    run.torch = True
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
        outputs = dict(outputs, y=np.moveaxis(outputs["y"], -1, 1))
        if grads:
            grads = dict(grads)
            if "x" in grads:
                grads["x"] = np.moveaxis(grads["x"], -1, 1)
            if perm is not None and "weight" in grads:
                grads["weight"] = grads["weight"].transpose(perm[1])
        return outputs, grads

    run.can_grad = getattr(runner, "can_grad", False)
    run.torch = getattr(runner, "torch", False)
    return run


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
            as_tuple(_value("stride", {}, kwargs), nd, "stride"),
            as_tuple(_value("dilation", {}, kwargs), nd, "dilation"),
        )
        inputs = dict(inputs, x=pad_array(x, pads))
        outputs, grads = runner(inputs, dict(kwargs, padding=0), dy)
        if grads and "x" in grads:
            grads = dict(grads, x=grads["x"][interior(pads, x.shape[2:])])
        return outputs, grads

    run.can_grad = getattr(runner, "can_grad", False)
    run.torch = getattr(runner, "torch", False)
    return run


BASES = {"numpy": numpy_adapter, "torch": torch_adapter}
WRAPPERS = {
    "nhwc": channels_last,
    "nhwc_hwio": lambda r, f: channels_last(r, f, weight_layout="hwio"),
    "explicit_padding": explicit_padding,
}


def build(spec, fn, family, backward=None):
    """Runner for ``fn`` from ``spec``: None, a callable ``spec(fn, family) -> runner``, or a
    string ``'base+wrapper+...'`` with base ``numpy`` (default) or ``torch`` and wrappers from
    ``nhwc``, ``nhwc_hwio``, ``explicit_padding`` (e.g. ``'nhwc'``, ``'torch+explicit_padding'``).
    """
    if spec is None:
        spec = "numpy"
    if callable(spec):
        return spec(fn, family)
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
    if parts[0] == "torch" and backward is not None:
        raise ValueError("backward= is for the numpy adapter; torch uses autograd")

    def chain(wrappers):
        if parts[0] == "torch":
            runner = torch_adapter(fn, family)
        else:
            runner = numpy_adapter(fn, family, backward)
        for w in wrappers:
            runner = WRAPPERS[w](runner, family)
        # the diagnosis reruns the candidate with one more convention changed, applied first
        # (closest to the function): e.g. variant('nhwc') tests "it reads channels-last"
        runner.variant = lambda extra: chain(_ordered([extra] + wrappers))
        return runner

    return chain(_ordered(parts[1:]))


def _ordered(wrappers):
    """Layout wrappers innermost (next to the function), padding outermost: the padding
    wrapper then works on minidl's channels-first arrays, whatever order the spec names."""
    return sorted(set(wrappers), key=list(WRAPPERS).index)
