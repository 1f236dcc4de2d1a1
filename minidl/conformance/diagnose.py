"""Why did an output fail? Test named convention mistakes against the golden data, per output.

Each hypothesis is a generator ``h(family, case, run, got)`` (``got``: the candidate's outputs
on the case, with its gradients as ``'grad x'``, ``'grad weight'``...) of ``(detail, predicted,
observed)`` triples, one per variant it tries, optionally with a fourth element, a key naming
the mistake across cases (default: the detail). ``predicted`` and ``observed`` are dicts of
arrays (outputs and gradients) that agree if the candidate made that mistake. Three kinds:

- *model the mistake*: ``predicted`` is what minidl gives under the wrong convention (the
  kernel flipped, padding ignored, another eps ...), ``observed`` the candidate's own outputs;
- *rerun*: the candidate is run again on transformed inputs (channels-last ``x``, a transposed
  dense weight), its outputs transformed back: ``observed``; ``predicted`` the golden outputs;
- *reinterpret*: the candidate's outputs transformed (PCA components as columns).

Each failed output is explained on its own (:func:`explanations`): a hypothesis explains it when
its arrays agree at a looser tolerance than pass/fail (:func:`hypothesis_tolerance`: a float32
slip or a rounding of the candidate's own must not hide the mistake) *and* it accounts for the
failure: what is left between the two is at most a tenth of the candidate's error. So a
mistake that moves an output by less than the failure, or a rerun that changes nothing (a
channels-last reading of a 2-D array), explains nothing. Across the report, :func:`consolidate`
keeps, where several hypotheses fit one output, those that fit the most outputs of the report:
"ignores padding" and "pads one less" agree wherever padding is 1, and a case with padding 2
decides. An output no hypothesis explains gets the generic findings of :func:`fallback`.
Hypotheses are models of *mistakes*; the correct behaviour is minidl's own code.
"""

import math
from collections import defaultdict

import numpy as np

from minidl.conformance import (
    hypotheses_classical,
    hypotheses_compression,
    hypotheses_conv,
    hypotheses_courses,
    hypotheses_losses_optim,
    hypotheses_network,
    hypotheses_norm,
    hypotheses_windows,
)
from minidl.conformance.failures import option

# family name -> hypotheses, in the order they are tried (most specific first)
HYPOTHESES = defaultdict(list)
for _module in (
    hypotheses_conv,
    hypotheses_norm,
    hypotheses_network,
    hypotheses_classical,
    hypotheses_compression,
    hypotheses_courses,
    hypotheses_losses_optim,
    hypotheses_windows,
):
    for _name, _hyps in _module.HYPOTHESES.items():
        HYPOTHESES[_name].extend(_hyps)
HYPOTHESES = dict(HYPOTHESES)
CONV = hypotheses_conv.CONV


def hypothesis_tolerance(rtol, atol):
    """Hypotheses are matched 10x looser than pass/fail, and never tighter than 1e-5 / 1e-7."""
    return max(10 * rtol, 1e-5), max(10 * atol, 1e-7)


def _arrays(a, b):
    if a is None or b is None or np.shape(a) != np.shape(b):
        return None
    try:
        return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def difference(a, b):
    """Largest |a - b|; equal non-finite values (inf and inf, nan and nan) count as equal;
    ``inf`` for a shape mismatch, a missing array or a non-finite value on one side only."""
    pair = _arrays(a, b)
    if pair is None:
        return math.inf
    a, b = pair
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if not np.all(same | (np.isfinite(a) & np.isfinite(b))):
        return math.inf
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: masked out
        d = np.where(same, 0.0, np.abs(a - b))
    return float(d.max()) if d.size else 0.0


def agree(pred, got, rtol, atol):
    """``got`` equals ``pred`` within ``atol + rtol |pred|`` (non-finite values: identical)."""
    pair = _arrays(pred, got)
    if pair is None:
        return False
    p, g = pair
    same = (p == g) | (np.isnan(p) & np.isnan(g))
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(g - p) <= atol + rtol * np.abs(p)
    return bool(np.all(same | (np.isfinite(p) & np.isfinite(g) & close)))


def explanations(family, case, run, observed, expected, failed, rtol, atol):
    """``{output: [(key, detail), ...]}`` for the failed outputs hypotheses explain.

    ``observed``/``expected``: the candidate's and the golden outputs and gradients (gradients
    named ``'grad x'``...); ``failed``: the names that failed (for a forward that raised, every
    forward output, with ``observed`` empty). Never raises.
    """
    h_rtol, h_atol = hypothesis_tolerance(rtol, atol)
    found = defaultdict(list)
    for h in HYPOTHESES.get(family.name, []):
        for item in _variants(h(family, case, run, observed)):
            detail, pred, obs = item[:3]
            key = item[3] if len(item) > 3 else detail
            # a mistake of the forward that fits only the gradients: the backward has it
            forward = [k for k in pred if not k.startswith("grad ")]
            backward_only = forward and not any(k in failed for k in forward)
            for name, p in pred.items():
                if name not in failed or not agree(p, obs.get(name), h_rtol, h_atol):
                    continue
                # the mistake must account for the failure, not sit inside it
                before = difference(observed.get(name), expected.get(name))
                if difference(obs.get(name), p) > 0.1 * before:
                    continue
                text = detail
                if backward_only and name.startswith("grad "):
                    text = f"forward matches; the backward differentiates another forward: {detail}"
                if (key, text) not in found[name]:
                    found[name].append((key, text))
    return dict(found)


def _variants(generator):
    """The items of a hypothesis up to the first it cannot evaluate (which explains nothing);
    a modelled mistake may overflow, as the original does, silently."""
    while True:
        try:
            with np.errstate(all="ignore"):  # only while the hypothesis computes
                item = next(generator)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - a hypothesis that cannot be evaluated explains nothing
            return
        yield item


def consolidate(rows):
    """Where several hypotheses explain one output, keep those whose explained set of (case,
    output) pairs over the whole report is not strictly smaller than another's there."""
    covered = defaultdict(set)
    places = [(r.case, o) for r in rows for o in r.outputs]
    places += [(r.case, r) for r in rows if getattr(r, "explanations", None)]
    for case, o in places:
        for key, _ in o.explanations:
            covered[key].add((case, getattr(o, "name", "")))
    for _, o in places:
        keys = [k for k, _ in o.explanations]
        o.explanations = [
            (k, d) for k, d in o.explanations if not any(covered[k2] > covered[k] for k2 in keys)
        ]


def _factor(expected, actual):
    """c with actual = c * expected (least squares), if that fits to 1e-6 relative and there
    is more than one element (any wrong scalar is some multiple of the right one), else None."""
    e, a = np.ravel(expected).astype(np.float64), np.ravel(actual).astype(np.float64)
    if e.size < 2 or e.shape != a.shape or not np.any(e) or not np.all(np.isfinite(a)):
        return None
    c = float(e @ a / (e @ e))
    if np.max(np.abs(a - c * e)) <= 1e-6 * np.max(np.abs(a)) and not np.isclose(c, 1.0):
        return c
    return None


def _shape_finding(name, expected, actual, rtol, atol):
    got, want = np.shape(actual), np.shape(expected)
    finding = f"{name} has shape {got}, expected {want}"
    if 0 in got and 0 not in want:
        return finding + ": empty (a crop x[p:-p] with p = 0 selects nothing)"
    if np.size(actual) == np.size(expected):
        try:
            same = agree(expected, np.reshape(actual, want), rtol, atol)
        except (TypeError, ValueError):
            same = False
        if same and tuple(d for d in got if d != 1) == tuple(d for d in want if d != 1):
            return finding + ", with the right values (an extra axis of length 1: keepdims?)"
        if same:
            return finding + ", with the right values in another order of axes"
    return finding


def fallback(name, expected, actual, forward_passed, rtol=0.0, atol=0.0):
    """A generic finding for an output no hypothesis explains (``forward_passed``: the
    output the gradients flow from passed)."""
    is_grad = name.startswith("grad ")
    if actual is None:
        finding = f"{name} missing" + (" (the backward did not return it)" if is_grad else "")
    elif np.shape(actual) != np.shape(expected):
        finding = _shape_finding(name, expected, actual, rtol, atol)
    elif not np.all(np.isfinite(np.asarray(actual, dtype=np.float64))):
        finding = f"{name} has NaN/inf (numerically unstable: overflow in exp?)"
    elif not np.any(actual) and np.any(expected):
        finding = f"{name} is all zeros (allocated but never filled in?)"
    elif (c := _factor(expected, actual)) is not None:
        finding = f"{name} is {c:.6g} x the expected (a mean/sum or constant-factor slip)"
    else:
        finding = "no known convention explains the difference"
    if is_grad and forward_passed:
        return f"forward matches; gradient wrong: {finding}"
    if is_grad:
        return f"{finding} (the forward is wrong too: fix it first)"
    return finding


def error_hint(family, case, run, fn, message):
    """A hint for a candidate that raised: the adapter it probably needs."""
    wrappers = getattr(run, "wrappers", ())
    module = getattr(fn, "__module__", None) or getattr(type(fn), "__module__", "") or ""
    looks_torch = module.split(".")[0] == "torch" or "Tensor" in message or "torch" in message
    if looks_torch and not getattr(run, "torch", False):
        return f" (a PyTorch function? use {option('adapter', 'torch')})"
    if (
        family.name in CONV
        and isinstance(case.kwargs.get("padding"), str)
        and "explicit_padding" not in wrappers
    ):
        return (
            " (string padding: for a function that takes integer padding only, such as "
            "PyTorch's with stride > 1, use the explicit_padding adapter)"
        )
    skip = f"code without it cannot run this case: leave it out with {option('skip')}"
    if case.kwargs.get("groups", 1) != 1:
        return f" (groups={case.kwargs['groups']}: weight has C_in/groups input channels; {skip})"
    tuples = [k for k, v in case.kwargs.items() if isinstance(v, list)]
    if tuples:
        return f" (per-axis {', '.join(tuples)}: {skip})"
    return ""
