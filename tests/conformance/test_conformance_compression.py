"""The per-channel quantize, choose_qparams and global magnitude-mask families.

A student's version of each, written from the formulas (not minidl's code), passes every case;
the same code with one mistake (the ``mistake=`` argument, as a student would make it) fails
the right cases with the right diagnosis. The case design is tested too: the ties are exact
ties, every other value is far from one, so float32 and float64 candidates agree.
PyTorch's versions are in test_conformance_torch.py.
"""

import functools

import numpy as np
import pytest
from diagnosis_asserts import assert_diagnosed

from minidl.conformance.check import check
from minidl.conformance.store import load_family


def _qrange(bits, signed, narrow_range):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return lo + bool(narrow_range), hi


def _half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


# ------------------------------------------------------------------ per-channel quantize
def quantize_pc(x, scale, zero_point, axis, bits=8, signed=True, narrow_range=False, mistake=None):
    """q = clamp(round(x / S_c) + Z_c, qmin, qmax), S_c and Z_c broadcast along ``axis``."""
    qmin, qmax = _qrange(bits, signed, narrow_range and mistake != "narrow")
    shape = [-1 if d == axis else 1 for d in range(x.ndim)]
    s, z = scale.reshape(shape), zero_point.reshape(shape)
    if mistake == "per_tensor":
        s, z = scale[0], zero_point[0]
    elif mistake == "broadcast":  # (C,) against the last axis
        s, z = scale, zero_point
    if mistake == "half_away":
        return np.clip(_half_away(x / s) + z, qmin, qmax)
    if mistake == "zp_first":
        return np.clip(np.rint(x / s + z), qmin, qmax)
    return np.clip(np.rint(x / s) + z, qmin, qmax)


def test_student_quantize_per_channel_passes():
    report = check(quantize_pc, "quantize_per_channel")
    assert report.passed, report.table()
    assert check(quantize_pc, "quantize_per_channel", dtype=np.float32).passed


@pytest.mark.parametrize(
    ("mistake", "phrase", "cases"),
    [
        ("per_tensor", "one scale and zero point for the whole tensor", None),
        ("half_away", "rounds half away from zero", {"ties_odd_zero_points"}),
        ("zp_first", "adds the zero point before rounding", {"ties_odd_zero_points"}),
        ("narrow", "ignores narrow_range=True: clamps to [-128, 127]", {"narrow_range"}),
    ],
)
def test_quantize_per_channel_mistakes(mistake, phrase, cases):
    report = check(functools.partial(quantize_pc, mistake=mistake), "quantize_per_channel")
    assert_diagnosed(report, phrase, cases)


def test_quantize_per_channel_broadcast_along_the_last_axis():
    report = check(functools.partial(quantize_pc, mistake="broadcast"), "quantize_per_channel")
    # (2, 3, 3) along axis 1: the codes come out along axis 2, and the diagnosis says so
    row = report.row("activation_axis1_uint8")
    assert row.status == "FAIL" and "along axis 2 instead of axis=1 (NumPy" in row.diagnosis
    assert report.row("last_axis_uint8").passed  # there axis 1 is the last: right by luck
    assert report.row("weight_axis0").status == "ERROR"
    assert "could not be broadcast" in report.row("weight_axis0").diagnosis


# ------------------------------------------------------------------ choose_qparams
def qparams(
    x_min, x_max, bits=8, symmetric=False, signed=True, narrow_range=False, dtype=np.float32,
    mistake=None,
):  # fmt: skip
    """PyTorch's observer rule written out: m = min(x_min, 0), M = max(x_max, 0);
    affine S = max((M - m) / (qmax - qmin), eps), Z = clamp(qmin - round(m / S));
    symmetric S = max(max(-m, M) / ((qmax - qmin) / 2), eps), Z = 0 or 2^(b-1)."""
    qmin, qmax = _qrange(bits, signed, narrow_range)
    m, M = np.minimum(x_min, 0).astype(dtype), np.maximum(x_max, 0).astype(dtype)
    if mistake == "no_widening":
        m, M = np.asarray(x_min, dtype), np.asarray(x_max, dtype)
    eps = 0.0 if mistake == "no_eps" else np.finfo(np.float32).eps
    if symmetric:
        # the mistake: TensorFlow's half width (127 for int8) whether or not the range is narrow
        half = (qmax - qmin - (mistake == "127" and not narrow_range)) / 2
        scale = np.maximum(np.maximum(-m, M) / dtype(half), dtype(eps))
        return scale, np.full(np.shape(m), 0 if signed else 2 ** (bits - 1))
    scale = np.maximum((M - m) / dtype(qmax - qmin), dtype(eps))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = m / scale
    if mistake == "unrounded":
        return scale, qmin - ratio
    rounded = _half_away(ratio) if mistake == "half_away" else np.rint(ratio)
    return scale, np.clip(qmin - rounded, qmin, qmax)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_student_choose_qparams_passes_in_float32_and_float64(dtype):
    """float64 arithmetic passes too: the family's rtol 2e-7 covers two float32 roundings."""
    report = check(functools.partial(qparams, dtype=dtype), "choose_qparams")
    assert report.passed, report.table()
    worst = max(r.ratio for r in report.rows)  # |a - e| / (rtol |e|), rtol = 2e-7
    assert (worst == 0.0) if dtype == np.float32 else (0 < worst <= 1), worst


AFFINE_MIXED = {"channels_affine_int8", "channels_affine_uint8", "channels_int4_affine"}
CHANNELS = {c.name for c in load_family("choose_qparams")[1] if c.name.startswith("channels_")}
SYMMETRIC = {"symmetric_int8", "symmetric_uint8", "channels_symmetric_int8"}


@pytest.mark.parametrize(
    ("mistake", "phrase", "cases"),
    [
        (
            "unrounded",
            "zero point not rounded to an integer",
            AFFINE_MIXED | {"affine_int8", "affine_uint8", "zero_point_ties"},
        ),
        ("half_away", "rounds the zero point half away from zero", {"zero_point_ties"}),
        ("no_widening", "does not widen the range to contain 0", AFFINE_MIXED),
        ("127", "(TensorFlow's narrow range", SYMMETRIC | {"channels_int4_symmetric"}),
        ("no_eps", "no eps floor", CHANNELS | {"all_zero"}),
    ],
)
def test_choose_qparams_mistakes(mistake, phrase, cases):
    report = check(functools.partial(qparams, mistake=mistake), "choose_qparams")
    assert_diagnosed(report, phrase, cases)
    if mistake == "127":
        assert "divides max|x| by 127 (" in report.row("symmetric_int8").diagnosis
        assert "by 7 (" in report.row("channels_int4_symmetric").diagnosis


# ------------------------------------------------------------------ global magnitude masks
def global_masks(weights, sparsity, mistake=None):
    """Remove the k = round(s N) smallest |w| over all N weights: a loop that drops the
    smallest remaining magnitude k times, then cuts the flat mask back into the shapes."""
    score = [np.ravel(w if mistake == "signed" else np.abs(w)) for w in weights]
    if mistake == "per_layer":
        return [global_masks([w], sparsity)[0] for w in weights]
    flat = np.concatenate(score)
    n = flat.size
    k = {"floor": int(sparsity * n), "half_up": int(sparsity * n + 0.5)}.get(
        mistake, round(sparsity * n)
    )
    keep = np.ones(n)
    if mistake == "strict" and k:
        keep = (flat >= np.sort(flat)[k - 1]).astype(float)  # |w| < t pruned, not |w| <= t
    else:
        for _ in range(k):
            keep[min(range(n), key=lambda i: (keep[i] == 0, flat[i]))] = 0.0
    out, start = [], 0
    for w in weights:
        out.append(keep[start : start + w.size].reshape(w.shape))
        start += w.size
    return out


def test_student_global_masks_pass():
    assert check(global_masks, "global_magnitude_masks").passed


@pytest.mark.parametrize(
    ("mistake", "phrase", "cases"),
    [
        (
            "per_layer",
            "separately (a per-layer threshold)",
            {"two_layers", "layer_pruned_entirely", "ties_at_threshold", "count_2.5", "count_3.5"},
        ),
        ("signed", "ranks by signed value", None),
        ("strict", "prunes only |w| < t", None),
        ("half_up", "s N = 2.5 rounded half up", {"count_2.5"}),
        ("floor", "floor(s N)", {"layer_pruned_entirely", "ties_at_threshold", "count_3.5"}),
    ],
)
def test_global_mask_mistakes(mistake, phrase, cases):
    report = check(functools.partial(global_masks, mistake=mistake), "global_magnitude_masks")
    if cases is None:
        cases = {r.case for r in report.rows if r.case not in ("none",)}
    assert_diagnosed(report, phrase, cases)


def test_a_dict_or_too_few_masks_is_reported_not_crashed():
    report = check(lambda weights, sparsity: dict(enumerate(weights)), "global_magnitude_masks")
    assert all(r.status == "ERROR" and "list of arrays" in r.diagnosis for r in report.rows)
    report = check(
        lambda weights, sparsity: global_masks(weights, sparsity)[:1], "global_magnitude_masks"
    )
    assert report.row("single_tensor").passed
    assert "masks.1 missing" in report.row("two_layers").diagnosis
    report = check(lambda x_min, x_max, **kw: qparams(x_min, x_max, **kw)[0], "choose_qparams")
    assert all("expected a tuple (scale, zero_point)" in r.diagnosis for r in report.rows)


# ------------------------------------------------------------------ the case design
def _distance_to_half(v):
    return np.abs(np.abs(v - np.floor(v)) - 0.5)


def test_ties_are_exact_and_other_codes_far_from_a_tie():
    for case in load_family("quantize_per_channel")[1]:
        x, s = case.inputs["x"], case.inputs["scale"]
        assert np.array_equal(s.astype(np.float32), s) and np.array_equal(x.astype(np.float32), x)
        shape = [-1 if d == case.kwargs["axis"] else 1 for d in range(x.ndim)]
        d = _distance_to_half(x / s.reshape(shape))
        if case.name == "ties_odd_zero_points":
            assert np.all(d == 0) and np.any(case.inputs["zero_point"] % 2)
        else:
            assert d.min() > 1e-3, (case.name, d.min())
    for case in load_family("choose_qparams")[1]:
        if not case.kwargs["symmetric"]:
            d = _distance_to_half(np.minimum(case.inputs["x_min"], 0) / case.outputs["scale"])
            assert np.all(d == 0) if case.name == "zero_point_ties" else d.min() > 1e-3


def test_every_edge_is_covered():
    qp = {c.name: c for c in load_family("choose_qparams")[1]}
    lo, hi = qp["channels_affine_int8"].inputs["x_min"], qp["channels_affine_int8"].inputs["x_max"]
    assert np.any(lo > 0) and np.any(hi < 0)  # ranges that must be widened to contain 0
    assert np.any((lo == 0) & (hi == 0)) and np.any((lo == hi) & (lo != 0))  # zero, constant
    assert {(c.kwargs["symmetric"], c.kwargs["signed"]) for c in qp.values()} == {
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    }
    pc = {c.name: c for c in load_family("quantize_per_channel")[1]}
    q = pc["constant_channels"].inputs["x"]
    assert np.all(q[0] == 0) and np.ptp(q[1]) == 0
    masks = {c.name: c for c in load_family("global_magnitude_masks")[1]}
    assert not masks["layer_pruned_entirely"].outputs["masks.1"].any()
    # at the cut: five weights of |w| = 0.5 all pruned, five of 0.75 all kept
    case = masks["ties_at_threshold"]
    a = np.concatenate([np.abs(case.inputs[f"weights.{i}"]).ravel() for i in (0, 1)])
    kept = np.concatenate([case.outputs[f"masks.{i}"].ravel() for i in (0, 1)])
    assert np.sum(a == 0.5) == np.sum(a == 0.75) == 5
    assert not kept[a == 0.5].any() and kept[a == 0.75].all()


def test_minidl_functions_from_the_command_line(capsys):
    from minidl.check import main

    assert main(["minidl.compression.quantization:choose_qparams", "--case", "choose_qparams"]) == 0
    assert "12/12 cases pass" in capsys.readouterr().out
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "quantize_per_channel" in out and "global_magnitude_masks" in out
