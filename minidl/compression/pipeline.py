r"""Article 004's pipeline, quantize -> clip -> prune -> validate, as one call with a table.

Article 004 (section 4.1) runs, on every weight and bias,

.. code-block:: python

    model['weights'] = quantize(model['weights'], 8)      # np.round(x * (1 << 8))
    model['weights'] = clip(model['weights'], 0.01)       # x * (1 - 0.01) + 0.01 * sign(x)
    model['weights'] = prune(model['weights'], 0.001)     # where(|x| < 0.001, 0, x): (5.4)

then "validates" the accuracy: the map
:math:`W \mapsto \mathrm{prune}_\epsilon(\mathrm{clip}_\alpha(\mathrm{quantize}_b(W)))` of (5.2) in
chapter 05 (``chapters/05_compressed_sensing_pipeline.ipynb``), whose three steps are that chapter's
(4.5)/(4.6), (5.3) and (5.4). :func:`compression_pipeline` runs any list of such steps on a copy of
a model and measures, after each, the accuracy, the bytes the weights would take
(:func:`minidl.compression.storage.model_bytes`, int8 only while every weight is still on an 8-bit
grid) and the sparsity. :func:`article004_pipeline` is the article's recipe, corrected
(``literal=False``: the fixed point is divided back by :math:`2^p`, with :math:`p` chosen per tensor
so the codes fit 8 bits) or verbatim (``literal=True``: weights 256 times too large).

What the table shows: quantizing already zeroes every weight below half a step, so the
article's prune threshold (0.001, below half a step) removes nothing more; its "clip" then
moves every nonzero weight by :math:`\alpha` towards :math:`\pm 1`, off the 8-bit grid, so the
model is back to float storage. Prune-then-quantize (Han et al. 2016) is the order that works.
"""

import copy
import numbers

import numpy as np

from minidl._validation import check_float_array
from minidl.compression.clipping import clip_article004
from minidl.compression.pruning import accuracy, prunable_weights, sparsity_of
from minidl.compression.quantization import quantize_fixed_point, quantize_fixed_point_literal
from minidl.compression.storage import model_bytes


def prune_article004(x, eps):
    r"""Article 004's pruning step as printed, ``np.where(np.abs(x) < eps, 0, x)``:

    .. math:: x_{prune} = \begin{cases} 0, & |x| < \epsilon \\ x, & \text{otherwise}
              \end{cases} \qquad (5.4)

    The comparison is strict: a value of magnitude exactly :math:`\epsilon` is kept, where
    chapter 04's magnitude rule (4.9), :func:`minidl.compression.pruning.threshold_prune`,
    removes every :math:`|w| \le h`. The two differ only on that boundary.
    """
    x = check_float_array(x, "x", finite=True)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"eps (the threshold) must be a finite number >= 0, got {eps!r}")
    return np.where(np.abs(x) < eps, 0, x).astype(x.dtype)


def on_int8_grid(w, tol=1e-4):
    """True if ``w`` is storable as 8-bit codes: each output unit a multiple of its own scale
    ``max|w_unit| / 127``, or the whole tensor of a power-of-two step with codes in [-127, 127]."""
    flat = np.asarray(w, dtype=np.float64).reshape(len(w), -1)
    absmax = np.abs(flat).max(axis=1, keepdims=True)
    codes = flat / np.where(absmax > 0, absmax / 127, 1)
    if np.all(np.abs(codes - np.rint(codes)) <= tol):
        return True
    top = np.abs(flat).max()
    if top == 0:
        return True
    p = int(np.floor(np.log2(127 / top)))
    codes = flat * 2.0**p
    return bool(np.all(np.abs(codes - np.rint(codes)) <= tol) and np.abs(codes).max() <= 127)


def measure(model, X, y, step):
    """One table row: step name, accuracy on ``(X, y)``, bytes, sparsity of the weights."""
    weights = prunable_weights(model)
    int8 = all(on_int8_grid(w) for w in weights.values())
    return {
        "step": step,
        "accuracy": accuracy(model, X, y),
        "bytes": model_bytes(model, sparse="auto", int8=int8),
        "int8": int8,
        "sparsity": sparsity_of(weights),
    }


def compression_pipeline(model, X, y, steps):
    """Run ``steps`` (a list of ``(name, fn)``, ``fn(model)`` changing it in place) on a copy
    of ``model``; return ``(rows, compressed_model)`` with a row before and after each step."""
    if not steps or any(
        not (isinstance(s, tuple) and len(s) == 2 and callable(s[1])) for s in steps
    ):
        raise TypeError("steps must be a non-empty list of (name, fn) pairs, fn(model)")
    model = copy.deepcopy(model)
    rows = [measure(model, X, y, "original")]
    for name, fn in steps:
        fn(model)
        rows.append(measure(model, X, y, name))
    return rows, model


def _fit_p(w, bits):
    """Largest fractional-bit count p with max|w| * 2^p <= 2^(bits-1) - 1 (codes fit)."""
    top = float(np.abs(w).max())
    return 0 if top == 0 else int(np.floor(np.log2((2 ** (bits - 1) - 1) / top)))


def _each(model, fn, include_bias):
    keys = list(prunable_weights(model))
    if include_bias:
        keys += [
            k.replace(".weight", ".bias")
            for k in keys
            if k.replace(".weight", ".bias") in model.params
        ]
    params = model.params
    for k in keys:
        params[k][...] = fn(params[k])


def article004_steps(bits=8, alpha=0.01, threshold=0.001, literal=False):
    """The article's three steps as ``(name, fn)`` pairs (see the module docstring)."""
    if literal:  # verbatim: weights and biases alike, fixed point never divided back
        return [
            (
                "quantize (literal)",
                lambda m: _each(
                    m, lambda w: quantize_fixed_point_literal(w, bits).astype(w.dtype), True
                ),
            ),
            ("clip (article 004)", lambda m: _each(m, lambda w: clip_article004(w, alpha), True)),
            (
                "prune (abs(x) < threshold)",
                lambda m: _each(m, lambda w: prune_article004(w, threshold), True),
            ),
        ]
    return [
        (
            "quantize (fixed point, 8 bit)",
            lambda m: _each(
                m, lambda w: quantize_fixed_point(w, _fit_p(w, bits), bits=bits), False
            ),
        ),
        ("clip (article 004)", lambda m: _each(m, lambda w: clip_article004(w, alpha), False)),
        (
            "prune (abs(x) < threshold)",
            lambda m: _each(m, lambda w: prune_article004(w, threshold), False),
        ),
    ]


def prune_then_quantize_steps(sparsity=0.9, scope="global"):
    """Han et al.'s order as pipeline steps: magnitude pruning, then int8 per output unit (the
    zeros stay zeros, and every weight stays on the 8-bit grid). No fine-tuning here: see
    :func:`minidl.compression.schedule.prune_and_finetune` for that."""
    from minidl.compression.pruning import apply_masks, model_masks
    from minidl.compression.quantization import dequantize
    from minidl.compression.storage import quantize_weight_int8

    def int8(w):
        codes, scale = quantize_weight_int8(w)
        return dequantize(codes, scale, np.zeros(len(scale), np.int64), axis=0, dtype=w.dtype)

    return [
        (
            f"prune {sparsity:.0%} ({scope})",
            lambda m: apply_masks(m, model_masks(m, sparsity, scope=scope)),
        ),
        ("quantize (int8 per unit)", lambda m: _each(m, int8, False)),
    ]


def article004_pipeline(
    model, X, y, bits=8, alpha=0.01, threshold=0.001, literal=False, plot_path=None
):
    """Article 004's quantize -> clip -> prune -> validate on a copy of ``model``.

    Returns ``(rows, compressed_model)``; each row is a dict with ``step``, ``accuracy``,
    ``bytes``, ``int8`` and ``sparsity``. ``plot_path`` also writes
    :func:`minidl.compression.plots.plot_pipeline` of the rows there.
    """
    steps = article004_steps(bits, alpha, threshold, literal)
    rows, compressed = compression_pipeline(model, X, y, steps)
    if plot_path is not None:
        from minidl.compression.plots import plot_pipeline

        title = "article 004 pipeline" + (" (literal)" if literal else "")
        plot_pipeline(rows, path=plot_path, title=title)
    return rows, compressed


def format_table(rows, baseline_bytes=None):
    """The rows as a Markdown table (accuracy %, KB, ratio to the first row's bytes, sparsity)."""
    base = baseline_bytes or rows[0]["bytes"]
    lines = ["| step | accuracy | size | ratio | sparsity |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        step = str(r["step"]).replace("|", "\\|")  # a '|' in a name would split the cell
        lines.append(
            f"| {step} | {100 * r['accuracy']:.2f}% | {r['bytes'] / 1024:.1f} KB "
            f"| {base / r['bytes']:.1f}x | {100 * r['sparsity']:.1f}% |"
        )
    return "\n".join(lines)
