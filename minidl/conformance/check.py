r"""Grade a function against minidl's golden cases: ``check(fn, 'conv2d')`` -> a printable report.

.. code-block:: python

    from minidl.conformance.check import check
    report = check(my_conv2d, "conv2d")                     # forward only, plain NumPy
    report = check(my_conv_forward, "conv2d", backward=my_conv_backward)   # + gradients
    report = check(torch.nn.functional.conv2d, "conv2d", adapter="torch+explicit_padding")
    print(report)            # the table; report.passed is True when every case passes

For every stored case the candidate runs on the golden inputs (through an adapter,
:mod:`minidl.conformance.adapters`), and each output and gradient is compared with minidl's:
a value passes when :math:`|a - e| \le atol + rtol\,|e|` elementwise (``numpy.isclose``'s
rule). The table shows, per case, the largest absolute error, the largest error relative to
the expected array's scale (:func:`minidl.gradcheck.rel_error`), the tolerance, the result,
and for a failure what most likely went wrong (:mod:`minidl.conformance.diagnose`). A case
whose candidate raises is an ``ERROR`` row with the exception.

Tolerances default to the family's (1e-7 relative, 1e-9 absolute for float64 networks; exact
for integer codes and masks). ``dtype=np.float32`` runs the candidate on float32 copies and
loosens the defaults to 1e-4 / 1e-5 (float32 rounding of sums of a few dozen terms).
"""

from dataclasses import dataclass, field

import numpy as np

from minidl.conformance import adapters
from minidl.conformance.cases import Family, get_family
from minidl.conformance.diagnose import diagnose
from minidl.conformance.store import load_family
from minidl.gradcheck import rel_error


@dataclass
class Row:
    """One case's result. ``status`` is ``'pass'``, ``'FAIL'`` or ``'ERROR'``."""

    case: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    status: str
    diagnosis: str = ""
    failed: tuple = ()

    @property
    def passed(self):
        return self.status == "pass"


@dataclass
class Report:
    """All rows of one check; ``str(report)`` is the table."""

    family: str
    signature: str
    adapter: str
    gradients: bool
    rows: list = field(default_factory=list)

    @property
    def passed(self):
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failures(self):
        return [r for r in self.rows if not r.passed]

    def row(self, case):
        """The row of case ``case`` (KeyError if absent)."""
        for r in self.rows:
            if r.case == case:
                return r
        raise KeyError(f"no case {case!r} in the {self.family} report")

    def table(self, width=None):
        head = ("case", "max abs err", "max rel err", "tolerance", "result", "diagnosis")
        lines = [
            (
                r.case,
                _num(r.max_abs),
                _num(r.max_rel),
                f"rtol={r.rtol:.0e} atol={r.atol:.0e}",
                r.status,
                r.diagnosis,
            )
            for r in self.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)][:5]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        grads = "outputs and gradients" if self.gradients else "outputs only (no gradients)"
        out = [
            f"{self.family}: {self.signature}  [adapter {self.adapter}; {grads}]",
            fmt.format(*head),
            fmt.format(*("-" * w for w in widths), "-" * 9),
        ]
        for line in lines:
            text = fmt.format(*line).rstrip()
            out.append(text if width is None else text[:width])
        n_pass = sum(r.passed for r in self.rows)
        out.append(f"{n_pass}/{len(self.rows)} cases pass")
        return "\n".join(out)

    def __str__(self):
        return self.table()


def _num(v):
    return "-" if v is None or np.isnan(v) else f"{v:.2e}"


def compare(expected, actual, rtol, atol, up_to_sign=False):
    """``(max abs err, rel err, ok)`` of ``actual`` against ``expected``; shape or missing
    values give ``(inf, inf, False)``. With ``up_to_sign`` each row of ``actual`` is first
    given the sign that best matches ``expected``'s row (PCA components)."""
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
    ok = bool(np.all(err <= atol + rtol * np.abs(e)))
    return (float(err.max()) if err.size else 0.0), rel_error(a, e), ok


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
):
    """Run ``fn`` on every golden case of ``case_family`` and return a :class:`Report`.

    Parameters
    ----------
    fn : callable
        The candidate, with the family's signature (:mod:`minidl.conformance.cases`), or an
        estimator class for ``ridge``/``lasso``/``pca``.
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
        ``backward``); True without that is a ``ValueError``.
    rtol, atol : float, optional
        Override the family's tolerances.
    dtype : None or numpy float dtype
        Cast the float inputs (and ``dy``) to this dtype before calling ``fn``.
    golden_dir : path, optional
        Read the golden files from here instead of the package's.
    """
    family = case_family if isinstance(case_family, Family) else get_family(case_family)
    if not callable(fn):
        raise TypeError(f"fn must be a function or an estimator class, got {type(fn).__name__}")
    run = adapters.build(adapter, fn, family, backward)
    can = getattr(run, "can_grad", False)
    if grad and not can:
        raise ValueError(
            f"grad=True needs gradients: pass backward= (numpy adapter) or use the torch adapter "
            f"(family {family.name} has gradients w.r.t. {family.grad_wrt or 'nothing'})"
        )
    grad = can if grad is None else bool(grad)
    rtol, atol = _tolerances(family, dtype, rtol, atol)
    _, cases = load_family(family.name, golden_dir)
    name = adapter if isinstance(adapter, str) else getattr(adapter, "__name__", "numpy")
    report = Report(family.name, family.signature, name or "numpy", grad)
    for case in cases:
        report.rows.append(_check_case(family, case, run, grad, rtol, atol, dtype))
    return report


def _check_case(family, case, run, grad, rtol, atol, dtype):
    dy = None
    if grad and case.dy is not None:
        dy = case.dy if dtype is None else case.dy.astype(dtype)
    try:
        got, got_grads = run(_cast(case.inputs, dtype), case.kwargs, dy)
    except Exception as err:  # noqa: BLE001 - any failure of the candidate is reported
        message = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        if "Tensor" in message and not getattr(run, "torch", False):
            message += " (a PyTorch function? use adapter='torch')"
        diagnosis = diagnose(family, case, run, None, None, (), rtol, atol, error=message)
        return Row(case.name, np.nan, np.nan, rtol, atol, "ERROR", diagnosis)
    pairs = [(k, case.outputs[k], got.get(k), k in family.up_to_sign) for k in case.outputs]
    if dy is not None:
        pairs += [(f"grad {k}", g, (got_grads or {}).get(k), False) for k, g in case.grads.items()]
    max_abs = max_rel = 0.0
    failed = []
    for key, expected, actual, sign in pairs:
        a, r, ok = compare(expected, actual, rtol, atol, sign)
        max_abs, max_rel = max(max_abs, a), max(max_rel, r)
        if not ok:
            failed.append(key)
    if not failed:
        return Row(case.name, max_abs, max_rel, rtol, atol, "pass")
    diagnosis = diagnose(family, case, run, got, got_grads, failed, rtol, atol)
    for key, expected, actual, _ in pairs:
        if key in failed and actual is not None and np.shape(actual) != np.shape(expected):
            diagnosis += f" ({key} shape {np.shape(actual)}, expected {np.shape(expected)})"
    wrong = ", ".join(failed)
    return Row(
        case.name, max_abs, max_rel, rtol, atol, "FAIL", f"[{wrong}] {diagnosis}", tuple(failed)
    )
