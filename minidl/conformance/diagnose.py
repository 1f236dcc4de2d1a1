"""Why did a case fail? Test named convention mistakes against the golden data.

Each hypothesis is a generator ``h(family, case, run, got)`` (``got``: the candidate's outputs
on the case) of ``(detail, predicted, observed)`` triples, one per variant it tries:
``predicted`` and ``observed`` are dicts of arrays that agree if the candidate made that
mistake. Three kinds:

- *model the mistake*: ``predicted`` is what minidl gives under the wrong convention (the
  kernel flipped, padding one less, the unbiased variance ...), ``observed`` the candidate's
  own outputs on the case;
- *rerun*: the candidate is run again on transformed inputs (channels-last ``x``, a transposed
  dense weight), its outputs transformed back: ``observed``; ``predicted`` the golden outputs;
- *reinterpret*: the candidate's outputs transformed (PCA components as columns).

A hypothesis *explains* a failure when its arrays agree within the check's tolerance and at
least one of them had failed (or the candidate raised). :func:`diagnose` returns the messages
of those that explain it, in the order listed (most specific first); otherwise it falls back
to generic findings (non-finite values, a constant factor, forward right but a gradient
wrong). Hypotheses are models of *mistakes*; the correct behaviour is minidl's own code. The
few lines here that compute rather than call minidl (a biased running update, a rounding
rule) are the mistake itself, which minidl does not implement.
"""

import numpy as np

from minidl.conformance import hypotheses_classical, hypotheses_compression, hypotheses_network

# family name -> hypotheses, in the order they are tried
HYPOTHESES = {
    **hypotheses_network.HYPOTHESES,
    **hypotheses_classical.HYPOTHESES,
    **hypotheses_compression.HYPOTHESES,
}
CONV = hypotheses_network.CONV


# ------------------------------------------------------------------ the driver
def _agree(pred, got, rtol, atol):
    if got is None or np.shape(pred) != np.shape(got):
        return False
    got = np.asarray(got, dtype=np.float64)
    return bool(np.all(np.abs(got - pred) <= atol + rtol * np.abs(pred)))


def _factor(expected, actual):
    """c with actual = c * expected (least squares), if that fits to 1e-6 relative, else None."""
    e, a = np.ravel(expected).astype(np.float64), np.ravel(actual).astype(np.float64)
    if e.shape != a.shape or not np.any(e) or not np.all(np.isfinite(a)):
        return None
    c = float(e @ a / (e @ e))
    if np.max(np.abs(a - c * e)) <= 1e-6 * np.max(np.abs(a)) and not np.isclose(c, 1.0):
        return c
    return None


def diagnose(family, case, run, got, got_grads, failed, rtol, atol, error=None):
    """Messages explaining why ``case`` failed (see the module docstring); never raises.

    ``got``/``got_grads``: the candidate's outputs and gradients (None if it raised: ``error``);
    ``failed``: the names of the outputs (``'y'``) and gradients (``'grad x'``) that failed.
    """
    got = got or {}
    found = []
    for h in HYPOTHESES.get(family.name, []):
        try:
            for detail, pred, observed in h(family, case, run, got):
                keys = list(pred)
                if not keys or not all(_agree(pred[k], observed.get(k), rtol, atol) for k in keys):
                    continue
                if error is None and not any(k in failed for k in keys):
                    continue
                if detail not in found:
                    found.append(detail)
        except Exception:  # noqa: BLE001 - a hypothesis that cannot be evaluated explains nothing
            continue
    if found:
        return "; ".join(found) + (f" [{error[:80]}]" if error else "")
    if error is not None:
        hint = ""
        if family.name in CONV and isinstance(case.kwargs.get("padding"), str):
            hint = " (string padding: for a function that takes integer padding only, such as "
            hint += "PyTorch's with stride > 1, use the explicit_padding adapter)"
        return f"raised {error}{hint}"
    notes = []
    for name in failed:
        is_grad = name.startswith("grad ")
        expected = case.grads[name[5:]] if is_grad else case.outputs[name]
        actual = (got_grads or {}).get(name[5:]) if is_grad else got.get(name)
        if actual is None:
            notes.append(f"{name} missing")
        elif np.shape(actual) != np.shape(expected):
            continue  # the checker's row states both shapes
        elif not np.all(np.isfinite(np.asarray(actual, dtype=np.float64))):
            notes.append(f"{name} has NaN/inf (numerically unstable: overflow in exp?)")
        elif (c := _factor(expected, actual)) is not None:
            notes.append(f"{name} is {c:.6g} x the expected (a mean/sum or constant-factor slip)")
    forward_failed = [n for n in failed if not n.startswith("grad ")]
    if not forward_failed and failed:
        notes.insert(0, "forward matches; gradient wrong")
    return "; ".join(notes) if notes else "no known convention explains the difference"
