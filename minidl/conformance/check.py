r"""Grade a function against minidl's golden cases: ``check(fn, 'conv2d')`` -> a printable report.

.. code-block:: python

    from minidl.conformance.check import check
    report = check(my_conv2d, "conv2d")                     # forward only, plain NumPy
    report = check(my_conv_forward, "conv2d", backward=my_conv_backward)   # + gradients
    report = check(torch.nn.functional.conv2d, "conv2d", adapter="torch+explicit_padding")
    print(report)            # the table; report.passed is True when every case passes
    report.assert_passed()   # AssertionError with the table otherwise (tests, grading scripts)

For every stored case the candidate runs on the golden inputs (through an adapter,
:mod:`minidl.conformance.adapters`, or a layer, :mod:`minidl.conformance.layer`), and each
output, running buffer and gradient is compared with minidl's on its own
(:mod:`minidl.conformance.report`: the largest absolute error and the ratio that is tested,
:math:`|a - e| / (atol + rtol\,|e|)`). A failed output gets its own diagnosis
(:mod:`minidl.conformance.diagnose`). A forward that raises is an ``ERROR`` row with the
exception and the file and line it came from; a backward that raises is an ``ERROR`` row too,
with the forward still compared. Cases left out with ``only``/``skip`` are ``unsupported``:
listed, not run, not counted, so code without (say) groups can have a green run.

Tolerances default to the family's (1e-7 relative, 1e-9 absolute for float64 networks; exact
for integer codes and masks). ``dtype=np.float32`` runs the candidate on float32 copies and
loosens the defaults to 1e-4 / 1e-5 (float32 rounding of sums of a few dozen terms).
"""

import fnmatch

import numpy as np

from minidl.conformance import adapters
from minidl.conformance.adapters import returned
from minidl.conformance.cases import Family, get_family
from minidl.conformance.diagnose import consolidate, error_hint, explanations, fallback
from minidl.conformance.failures import SPELLING, NotCompared, Raised, option
from minidl.conformance.report import Output, Report, Row, gradient_message
from minidl.conformance.store import load_family

__all__ = ["Report", "Row", "check", "compare"]


def compare(expected, actual, rtol, atol, up_to_sign=False):
    """``(max abs err, ratio, ok)`` of ``actual`` against ``expected``: the ratio is the largest
    ``|a - e| / (atol + rtol |e|)`` and ``ok`` is ratio <= 1. Shape or missing values give
    ``(inf, inf, False)``. With ``up_to_sign`` each row of ``actual`` is first given the sign
    that best matches ``expected``'s row (PCA components)."""
    if actual is None:
        return np.inf, np.inf, False
    e = np.asarray(expected, dtype=np.float64)
    try:
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        return np.inf, np.inf, False
    if a.shape != e.shape:
        return np.inf, np.inf, False
    if up_to_sign and a.ndim == 2:
        a = a * np.where(np.sum(a * e, axis=1, keepdims=True) < 0, -1.0, 1.0)
    if not np.all(np.isfinite(a)):
        return np.inf, np.inf, False
    err = np.abs(a - e)
    if not err.size:
        return 0.0, 0.0, True
    bound = atol + rtol * np.abs(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)  # bound 0 (exact families): 0 or inf
    worst = float(ratio.max())
    return float(err.max()), worst, worst <= 1.0


def _cast(inputs, dtype):
    if dtype is None:
        return inputs
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in inputs.items()}


def _tolerances(family, dtype, rtol, atol):
    for name, v in (("rtol", rtol), ("atol", atol)):
        if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if dtype is not None and np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be None, float32 or float64, got {np.dtype(dtype)}")
    r, a = family.rtol, family.atol
    if dtype is not None and np.dtype(dtype) == np.float32 and r > 0:
        r, a = max(r, 1e-4), max(a, 1e-5)
    return (r if rtol is None else rtol), (a if atol is None else atol)


def _patterns(value, name):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a case name, a pattern or a list of them, got {value!r}")
    return [p.strip() for v in value for p in v.split(",") if p.strip()]


# a keyword's ordinary value: selecting the keyword selects the cases that use something else
ORDINARY = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "ceil_mode": False}


def _uses(case, keyword):
    value = case.kwargs.get(keyword, ORDINARY[keyword])
    values = value if isinstance(value, list) else [value]
    return any(v != ORDINARY[keyword] for v in values)


def select(family, names, only=None, skip=None):
    """The case names to run: those matching ``only`` (all if None) and not ``skip``. Each is a
    case name, a shell pattern (``'same*'``), a keyword (``'dilation'``, ``'groups'``,
    ``'stride'``, ``'padding'``, ``'ceil_mode'``: the cases that use anything but its ordinary
    value 1, 1, 1, 0, False) or a comma-separated list of these. A pattern that matches no case
    is a ``ValueError`` listing the cases (a typo must not silently skip nothing)."""
    by_name = {c.name: c for c in family.cases}
    chosen = {}
    for label, value in (("only", only), ("skip", skip)):
        hits = set()
        for pattern in _patterns(value, label):
            matched = fnmatch.filter(names, pattern)
            if not matched and pattern in family.keywords and pattern in ORDINARY:
                matched = [n for n in names if n in by_name and _uses(by_name[n], pattern)]
            if not matched:
                raise ValueError(
                    f"{option(label)} {pattern!r} matches no case of {family.name}; its cases "
                    f"are {', '.join(names)}"
                )
            hits.update(matched)
        chosen[label] = hits
    keep = chosen["only"] or set(names)
    return [n for n in names if n in keep and n not in chosen["skip"]]


def check(
    fn,
    case_family,
    adapter=None,
    backward=None,
    grad=None,
    rtol=None,
    atol=None,
    dtype=None,
    golden_dir=None,
    only=None,
    skip=None,
):
    """Run ``fn`` on every golden case of ``case_family`` and return a :class:`Report`.

    Parameters
    ----------
    fn : callable
        The candidate, with the family's signature (:mod:`minidl.conformance.cases`), or an
        estimator class for ``ridge``/``lasso``/``pca``. (A class-based layer:
        :func:`minidl.conformance.layer.check_layer`.)
    case_family : str or Family
        ``'conv2d'``, ``'batch_norm_train'``, ... (``minidl.conformance.cases.FAMILIES``).
    adapter : None, str or callable
        How to call ``fn`` (:func:`minidl.conformance.adapters.build`): None/``'numpy'``,
        ``'torch'``, ``'nhwc'``, ``'torch+explicit_padding'``, ...
    backward : callable, optional
        NumPy adapter only: ``fn`` then returns ``(y, cache)`` and ``backward(dy, cache)`` the
        gradients in the order of ``family.grad_wrt``.
    grad : bool or None
        Compare gradients. None: whenever the adapter can produce them (torch, or a
        ``backward``); True without that is a ``ValueError``; False: outputs only.
    rtol, atol : float, optional
        Override the family's tolerances.
    dtype : None or numpy float dtype
        Cast the float inputs (and ``dy``) to this dtype before calling ``fn``.
    golden_dir : path, optional
        Read the golden files from here instead of the package's.
    only, skip : str or list of str, optional
        Case names or shell patterns to run only / to leave out; the others are listed as
        ``unsupported`` and not counted.
    """
    family = case_family if isinstance(case_family, Family) else get_family(case_family)
    if not callable(fn):
        raise TypeError(f"fn must be a function or an estimator class, got {type(fn).__name__}")
    run = adapters.build(adapter, fn, family, backward)
    name = adapter if isinstance(adapter, str) else getattr(adapter, "__name__", "numpy")
    return run_cases(family, run, fn, name or "numpy", grad, rtol, atol, dtype, golden_dir,
                     only, skip)  # fmt: skip


def run_cases(family, run, fn, adapter_name, grad, rtol, atol, dtype, golden_dir, only, skip):
    """The checking loop behind :func:`check` and ``check_layer``: ``run`` is a runner."""
    can = getattr(run, "can_grad", False)
    if grad and not can:
        asked = "--grad" if SPELLING.get() == "cli" else "grad=True"
        raise ValueError(
            f"{asked} needs gradients: pass {option('backward')} (numpy adapter) or use the "
            f"torch adapter (family {family.name} has gradients w.r.t. "
            f"{family.grad_wrt or 'nothing'})"
        )
    grad = can if grad is None else bool(grad)
    rtol, atol = _tolerances(family, dtype, rtol, atol)
    _, cases = load_family(family.name, golden_dir)
    chosen = select(family, [c.name for c in cases], only, skip)
    report = Report(family.name, family.signature, adapter_name, grad, rtol, atol)
    for case in cases:
        if case.name in chosen:
            report.rows.append(_check_case(family, case, run, fn, grad, rtol, atol, dtype))
        else:
            note = f"left out ({option('only')}/{option('skip')}): not run, not counted"
            report.rows.append(Row(case.name, "unsupported", rtol, atol, diagnosis=note))
    consolidate(report.rows)
    for row in report.rows:
        _write_diagnoses(row, family)
    return report


def _check_case(family, case, run, fn, grad, rtol, atol, dtype):
    dy = None
    if grad and case.dy is not None:
        dy = case.dy if dtype is None else case.dy.astype(dtype)
    expected = dict(case.outputs)
    try:
        got, got_grads = run(_cast(case.inputs, dtype), case.kwargs, dy)
    except Exception as err:  # noqa: BLE001 - any failure of the candidate is reported
        row = Row(case.name, "ERROR", rtol, atol, error=Raised.from_exception(err))
        found = explanations(family, case, run, {}, expected, list(expected), rtol, atol)
        row.explanations = list(dict.fromkeys(e for v in found.values() for e in v))
        row.hint = error_hint(family, case, run, fn, str(row.error))
        return row
    observed = dict(got)
    gradients = None
    if dy is not None:
        if isinstance(got_grads, dict):
            observed.update({f"grad {k}": v for k, v in got_grads.items()})
            expected.update({f"grad {k}": v for k, v in (case.grads or {}).items()})
        else:
            gradients = got_grads  # Raised or NotCompared: said once for all gradients
    if isinstance(gradients, NotCompared):  # say it in minidl's layout, as the table does
        first = family.outputs[0]
        gradients = NotCompared(
            f"the forward's {first} has shape {np.shape(observed.get(first))}, expected "
            f"{np.shape(expected[first])}, so there is no upstream gradient of its shape to give "
            "the backward"
        )
    outputs = []
    for name, e in expected.items():
        max_abs, ratio, ok = compare(e, observed.get(name), rtol, atol, name in family.up_to_sign)
        outputs.append(Output(name, max_abs, ratio, "pass" if ok else "FAIL"))
    failed = [o.name for o in outputs if not o.passed]
    if failed:
        found = explanations(family, case, run, observed, expected, failed, rtol, atol)
        for o in outputs:
            o.explanations = found.get(o.name, [])
    status = (
        "ERROR" if isinstance(gradients, Raised) else ("FAIL" if failed or gradients else "pass")
    )
    row = Row(case.name, status, rtol, atol, outputs, gradients=gradients)
    row.observed, row.expected = observed, expected
    return row


def _write_diagnoses(row, family):
    """Each failed output's diagnosis, and the row's one-line summary of them."""
    if row.status == "unsupported":
        return
    if row.error is not None:
        details = _alternatives([d for _, d in row.explanations])
        if details:
            row.diagnosis = details + f" [raised {row.error}]"
        else:
            row.diagnosis = f"raised {row.error}{row.hint}"
        return
    # the gradients flow from the returned outputs, not from updated buffers
    forward = set(returned(family))
    forward_passed = all(o.passed for o in row.outputs if o.name in forward)
    for o in row.outputs:
        if o.passed:
            continue
        o.diagnosis = _alternatives([d for _, d in o.explanations]) or fallback(
            o.name,
            row.expected.get(o.name),
            row.observed.get(o.name),
            forward_passed,
            row.rtol,
            row.atol,
        )
    groups = {}
    for o in row.outputs:
        if not o.passed:
            groups.setdefault(o.diagnosis, []).append(o.name)
    parts = [f"[{', '.join(names)}] {text}" for text, names in groups.items()]
    if row.gradients is not None:
        parts.append(gradient_message(row))
    row.diagnosis = "; ".join(parts)


def _alternatives(details):
    """Hypotheses that fit the same values are alternatives: each alone explains them."""
    if len(details) < 2:
        return "".join(details)
    return "; or ".join(details) + " (the cases that ran cannot tell these apart)"
