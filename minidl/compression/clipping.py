r"""Weight clipping: article 003's two rules (text and code), clip by value, max-norm, and
article 004's "clipping".

Numbers (4.k) are chapter 04's (``chapters/04_cnn_optimization.ipynb``), (5.3) chapter 05's
(``chapters/05_compressed_sensing_pipeline.ipynb``).

Article 003 (section 3, "权重裁剪") says in its *text*

.. math:: w_{new} = \begin{cases} h, & |w_{old}| > h \\ 0, & \text{otherwise} \end{cases}
          \qquad (4.3)

(:func:`clip_article003_text`), while its *code* does
``tf.where(tf.abs(kernel) > h, h * tf.sign(kernel), kernel)`` and sets
``kernel_constraint = MaxNorm(h)`` (:func:`clip_article003_code`). They disagree everywhere:
the text zeroes every weight with :math:`|w| \le h` and turns every larger one into
:math:`+h` (a negative weight :math:`-0.5` becomes :math:`+h`: the sign is lost), i.e. it
binarizes the network to :math:`\{0, h\}`; the code leaves small weights alone and saturates
large ones to :math:`\pm h` (clip by value, sign kept), then bounds each unit's norm. The code
is the usual meaning of clipping, (4.4); the text is not clipping at all.

Article 004's formula (5.3) :math:`x (1 - \alpha) + \alpha\,\mathrm{sign}(x)`
(:func:`clip_article004`) is not a clip either: it moves every weight a fraction
:math:`\alpha` of the way towards :math:`\pm 1`, which *enlarges* any :math:`|x| < 1` and
bounds nothing.
"""

import numbers

import numpy as np

from minidl._validation import check_float_array, check_fraction


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number > 0, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def clip_by_value(w, c):
    r""":math:`\mathrm{clip}(w, -c, c) = \mathrm{sign}(w)\min(|w|, c)`, (4.4) in chapter 04."""
    w = check_float_array(w, "w", finite=True)
    c = _positive(c, "c")
    return np.clip(w, -c, c).astype(w.dtype)


def max_norm(w, c, axis=0):
    r"""Max-norm per output unit: rescale each unit so its L2 norm is at most ``c``.

    .. math:: w_{o,:} \leftarrow w_{o,:} \cdot \min\!\left(1, \frac{c}{\|w_{o,:}\|_2}\right)
              \qquad (4.4)

    The norm runs over every axis but ``axis``, the output units (0 in minidl's and PyTorch's
    layouts): one norm per neuron of a Dense layer, one per *filter* of a convolution, the
    constraint of Srivastava et al. (2014) and ``torch.renorm(w, 2, 0, c)``. A unit of norm 0
    stays 0 (no division by zero).

    This is Keras's ``MaxNorm(c)`` only where Keras reduces over the same weights: on a Dense
    kernel (Keras layout ``(in, out)``, default ``axis=0``), and on a Conv2D kernel with
    ``MaxNorm(c, axis=[0, 1, 2])``. With its default ``axis=0`` on a Conv2D kernel
    ``(rows, cols, in, out)`` Keras bounds each column of ``rows`` taps separately, not each
    filter: that is :func:`max_norm_keras`. (Keras also divides by ``eps + norm`` with
    ``eps = 1e-7``; the difference is below :math:`10^{-7}` relative.)
    """
    w = check_float_array(w, "w", finite=True)
    c = _positive(c, "c")
    if (
        isinstance(axis, bool)
        or not isinstance(axis, numbers.Integral)
        or not (-w.ndim <= axis < w.ndim)
    ):
        raise ValueError(f"axis must be an integer in [{-w.ndim}, {w.ndim}), got {axis!r}")
    axes = tuple(a for a in range(w.ndim) if a != axis % w.ndim)
    norm = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=axes, keepdims=True))
    factor = np.minimum(1.0, c / np.where(norm > 0, norm, 1.0))
    return (w * factor).astype(w.dtype)


KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), in MaxNorm's denominator


def max_norm_keras(w, c):
    r"""Keras's ``MaxNorm(c)`` with its default ``axis=0``, on a weight in minidl's layout.

    Keras stores a Dense kernel as ``(in, out)`` and a ConvND kernel as
    ``(k_1, ..., k_d, in, out)``, and computes, reducing over ``axis=0`` only,

    .. math:: w \leftarrow w\, \frac{\mathrm{clip}(\|w\|_{axis\,0}, 0, c)}
              {\epsilon + \|w\|_{axis\,0}}, \qquad \epsilon = 10^{-7}.

    For a Dense weight (minidl ``(out, in)``) axis 0 of Keras's kernel is the inputs, so each
    unit is bounded: the same as :func:`max_norm`. For a convolution (minidl
    ``(C_out, C_in, k_1, ..., k_d)``) axis 0 of Keras's kernel is the first kernel axis
    ``k_1`` (the rows), so each column of ``k_1`` taps is bounded on its own and a filter's
    norm can reach :math:`c\sqrt{C_{in}\, k_2 \cdots k_d}`. That is what article 003's
    ``kernel_constraint = MaxNorm(h)`` would do to its Conv2D layers.
    """
    w = check_float_array(w, "w", finite=True)
    c = _positive(c, "c")
    if w.ndim < 2:
        raise ValueError(
            f"w must be a Dense (out, in) or conv (C_out, C_in, *k) weight, got shape {w.shape}"
        )
    reduce_axis = 1 if w.ndim == 2 else 2  # Keras's axis 0 in minidl's layout
    norm = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=reduce_axis, keepdims=True))
    return (w * (np.clip(norm, 0, c) / (KERAS_EPSILON + norm))).astype(w.dtype)


def max_norm_naive(w, c):
    """:func:`max_norm` over axis 0 as a loop over units (readable twin)."""
    out = np.array(w, copy=True)
    for o in range(out.shape[0]):
        norm = float(np.sqrt(sum(float(v) ** 2 for v in out[o].ravel())))
        if norm > c:
            out[o] = out[o] * (c / norm)
    return out


def clip_article003_text(w, h):
    r"""Article 003's *text* (4.3): :math:`w_{new} = h` if :math:`|w| > h`, else 0 (literal).

    Not a clip: every surviving weight becomes :math:`+h` whatever its sign, and every small
    one 0. Kept to show what the formula does; :func:`clip_article003_code` is what the
    article's code does and what clipping means.
    """
    w = check_float_array(w, "w", finite=True)
    h = _positive(h, "h")
    return np.where(np.abs(w) > h, h, 0).astype(w.dtype)


def clip_article003_code(w, h, apply_max_norm=True):
    r"""Article 003's *code*: ``tf.where(|w| > h, h * sign(w), w)``, then ``MaxNorm(h)``.

    The corrected rule (4.4). The first step is :func:`clip_by_value` (values beyond :math:`\pm h`
    saturate, sign kept, small weights untouched). The code then sets
    ``layer.kernel_constraint=MaxNorm(h)``, which Keras applies after every optimizer step; applied
    once here (``apply_max_norm``) it rescales each unit to norm :math:`\le h` (:func:`max_norm`),
    the evident intent. Keras's default ``MaxNorm(h)`` on a Conv2D kernel would bound each column
    of kernel rows instead, not each filter (:func:`max_norm_keras`).
    (In Keras the constraint is attached to the variable when the layer is built, so assigning the
    attribute afterwards, as the article does, most likely has no effect at all; we implement the
    evident intent.) With the article's :math:`h = 0.01` both steps shrink a trained network to near
    zero.
    """
    w = clip_by_value(w, h)
    return max_norm(w, h) if apply_max_norm else w


def clip_article004(x, alpha):
    r"""Article 004's (5.3): :math:`x_{clip} = x (1 - \alpha) + \alpha\,\mathrm{sign}(x)` (no clip).

    A convex combination of :math:`x` and :math:`\mathrm{sign}(x)`: each value moves the
    fraction :math:`\alpha \in [0, 1]` of the way to :math:`\pm 1` (0 stays 0). Values below 1
    in magnitude grow, larger ones shrink; no value is removed, so it reduces no parameter count
    (the article says it does). :math:`\alpha = 1` is :math:`\mathrm{sign}(x)` (binarization).
    """
    x = check_float_array(x, "x", finite=True)
    alpha = check_fraction(alpha, "alpha")
    a = x.dtype.type(alpha)
    return (x * (1 - a) + a * np.sign(x)).astype(x.dtype)


def apply_to_weights(model, fn, *args, include_bias=False, **kwargs):
    """Replace every Dense/Conv weight (and bias, if asked) of ``model`` by ``fn(w, *args)``."""
    from minidl.compression.pruning import prunable_weights

    weights = prunable_weights(model)
    if include_bias:
        weights.update(
            {
                k: v
                for k, v in model.params.items()
                if k.endswith(".bias") and k.replace(".bias", ".weight") in weights
            }
        )
    for w in weights.values():
        w[...] = fn(w, *args, **kwargs)
    return model
