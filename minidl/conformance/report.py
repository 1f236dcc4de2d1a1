r"""The result of a check: one :class:`Row` per case, one :class:`Output` per compared array.

Each output (``y``, a running buffer, ``grad x``, ...) is compared on its own: a value passes
when :math:`|a - e| \le atol + rtol\,|e|` elementwise (``numpy.isclose``'s rule), and the
*ratio* shown is the largest :math:`|a - e| / (atol + rtol\,|e|)`: exactly what is tested,
passing at 1 or below. A case passes when every output does. ``str(report)``, ``repr(report)``
and the message of :meth:`Report.assert_passed` are the table; :meth:`Report.as_dict` is the
same for scripts (``--json``).
"""

import math
from dataclasses import dataclass, field

from minidl.conformance.failures import NotCompared, Raised

STATUSES = ("pass", "FAIL", "ERROR", "unsupported")


@dataclass
class Output:
    """One compared array: ``status`` is ``'pass'`` or ``'FAIL'``; ``explanations`` are the
    hypotheses that fit before the report weighed them across cases (see ``diagnose``)."""

    name: str
    max_abs: float
    ratio: float
    status: str
    diagnosis: str = ""
    explanations: list = field(default_factory=list)

    @property
    def passed(self):
        return self.status == "pass"


@dataclass
class Row:
    """One case: ``status`` is ``'pass'``, ``'FAIL'``, ``'ERROR'`` (the candidate raised) or
    ``'unsupported'`` (left out with ``only``/``skip``: not run, not counted)."""

    case: str
    status: str
    rtol: float
    atol: float
    outputs: list = field(default_factory=list)
    error: Raised | None = None  # the forward raised
    gradients: Raised | NotCompared | None = None  # why the gradients were not compared
    diagnosis: str = ""
    # what the diagnosis works from: hypotheses that explain a forward that raised, the hint
    # for it, and the arrays compared (outputs and 'grad ...' gradients)
    explanations: list = field(default_factory=list, repr=False)
    hint: str = field(default="", repr=False)
    observed: dict = field(default_factory=dict, repr=False)
    expected: dict = field(default_factory=dict, repr=False)

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def failed(self):
        """Names of the outputs that failed, in order."""
        return tuple(o.name for o in self.outputs if not o.passed)

    @property
    def max_abs(self):
        values = [o.max_abs for o in self.outputs if not math.isnan(o.max_abs)]
        return max(values) if values else math.nan

    @property
    def ratio(self):
        values = [o.ratio for o in self.outputs if not math.isnan(o.ratio)]
        return max(values) if values else math.nan

    def output(self, name):
        """The :class:`Output` called ``name`` (KeyError if absent)."""
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(f"no output {name!r} in case {self.case!r}")


@dataclass
class Report:
    """All rows of one check; ``str(report)`` is the table."""

    family: str
    signature: str
    adapter: str
    gradients: bool
    rtol: float = math.nan
    atol: float = math.nan
    rows: list = field(default_factory=list)

    @property
    def checked(self):
        return [r for r in self.rows if r.status != "unsupported"]

    @property
    def passed(self):
        """True when at least one case ran and every case that ran passed."""
        return bool(self.checked) and all(r.passed for r in self.checked)

    @property
    def failures(self):
        return [r for r in self.checked if not r.passed]

    def row(self, case):
        """The row of case ``case`` (KeyError if absent)."""
        for r in self.rows:
            if r.case == case:
                return r
        raise KeyError(f"no case {case!r} in the {self.family} report")

    def assert_passed(self):
        """Raise ``AssertionError`` with the table unless every case that ran passed."""
        if not self.passed:
            raise AssertionError("\n" + self.table())

    def table(self, width=None):
        """The table: a passing case on one line, any other case one line per output."""
        head = ("case", "output", "max abs err", "ratio", "result", "diagnosis")
        lines = [line for r in self.rows for line in _lines(r)]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)][:5]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        grads = "outputs and gradients" if self.gradients else "outputs only (no gradients)"
        out = [
            f"{self.family}: {self.signature}  [adapter {self.adapter}; {grads}]",
            f"a value passes when |a - e| <= atol + rtol*|e| (rtol={self.rtol:.0e}, "
            f"atol={self.atol:.0e}); ratio = largest |a - e| / (atol + rtol*|e|), passing at <= 1",
            fmt.format(*head),
            fmt.format(*("-" * w for w in widths), "-" * 9),
        ]
        for line in lines:
            text = fmt.format(*line).rstrip()
            out.append(text if width is None else text[:width])
        out.append(self.summary())
        return "\n".join(out)

    def summary(self):
        n_pass = sum(r.passed for r in self.checked)
        text = f"{n_pass}/{len(self.checked)} cases pass"
        skipped = [r.case for r in self.rows if r.status == "unsupported"]
        if skipped:
            text += f"; {len(skipped)} unsupported, not run: {', '.join(skipped)}"
        return text

    def __str__(self):
        return self.table()

    def __repr__(self):
        return self.table()

    def as_dict(self):
        """The report as JSON-ready data: numbers are floats, ``None`` where nothing was
        compared and the string ``'inf'`` for an infinite error (a shape mismatch)."""
        return {
            "family": self.family,
            "signature": self.signature,
            "adapter": self.adapter,
            "gradients": self.gradients,
            "rtol": self.rtol,
            "atol": self.atol,
            "passed": self.passed,
            "summary": self.summary(),
            "cases": [_row_dict(r) for r in self.rows],
        }


def _num(v):
    if v is None or math.isnan(v):
        return "-"
    return "0" if v == 0 else f"{v:.2e}"


def _ratio(v):
    if v is None or math.isnan(v):
        return "-"
    return "0" if v == 0 else f"{v:.2g}"


def _lines(row):
    """The table lines of one row: (case, output, max abs, ratio, result, diagnosis)."""
    if row.status == "unsupported":
        return [(row.case, "-", "-", "-", "unsupported", row.diagnosis)]
    if row.status == "pass":
        names = row.outputs[0].name if len(row.outputs) == 1 else f"all {len(row.outputs)}"
        return [(row.case, names, _num(row.max_abs), _ratio(row.ratio), "pass", row.diagnosis)]
    if row.error is not None:
        return [(row.case, "-", "-", "-", "ERROR", row.diagnosis)]
    lines, previous = [], None
    for o in row.outputs:
        said = o.diagnosis and o.diagnosis == previous  # one mistake, several outputs
        text = "(same as above)" if said else o.diagnosis
        lines.append(("", o.name, _num(o.max_abs), _ratio(o.ratio), o.status, text))
        previous = o.diagnosis or previous
    if row.gradients is not None:
        status = "ERROR" if isinstance(row.gradients, Raised) else "not compared"
        lines.append(("", "gradients", "-", "-", status, gradient_message(row)))
    first = lines[0]
    lines[0] = (row.case,) + first[1:]
    return lines


def gradient_message(row):
    """Why the gradients of ``row`` were not compared, with the forward's verdict."""
    g = row.gradients
    if isinstance(g, Raised):
        forward = "forward matches" if all(o.passed for o in row.outputs) else "forward wrong"
        return f"{forward}; backward raised {g}"
    return str(g) if isinstance(g, NotCompared) else ""


def _json_num(v):
    if v is None or math.isnan(v):
        return None
    return "inf" if math.isinf(v) else float(v)


def _row_dict(r):
    return {
        "case": r.case,
        "status": r.status,
        "diagnosis": r.diagnosis,
        "error": None if r.error is None else r.error.as_dict(),
        "gradients_not_compared": None if r.gradients is None else gradient_message(r),
        "outputs": [
            {
                "name": o.name,
                "max_abs": _json_num(o.max_abs),
                "ratio": _json_num(o.ratio),
                "status": o.status,
                "diagnosis": o.diagnosis,
            }
            for o in r.outputs
        ],
    }
