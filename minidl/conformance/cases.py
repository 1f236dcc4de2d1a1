r"""Conformance families: what a candidate function must look like, and the cases it is run on.

A *family* fixes a calling convention (the one minidl and ``torch.nn.functional`` share) and a
list of *cases*: seeded float64 inputs and keyword values. A candidate is called as

.. code-block:: python

    out = fn(*[value[a] for a in family.args], **{k: value[k] for k in family.keywords
                                                   if k in the case})

where ``value`` looks a name up in the case's arrays first, then in its keywords (absent
optional arrays such as a missing ``bias`` are passed as ``None``). Estimator families call
``fn(**kwargs).fit(X, y)`` and read the fitted attributes. The signatures:

======================  ==========================================================================
family                  candidate signature  ->  compared outputs (gradients w.r.t.)
======================  ==========================================================================
conv1d/2d/3d            ``f(x, weight, bias, stride=, padding=, dilation=, groups=) -> y``
                        x (N, C, *spatial), weight (C_out, C_in/groups, *k); padding an int, a
                        tuple, ``'valid'`` or ``'same'`` (TensorFlow SAME)  (x, weight, bias)
max_pool1d/2d/3d,       ``f(x, kernel_size=, stride=, padding=, ceil_mode=) -> y``  (x)
avg_pool1d/2d/3d        (average pooling counts the zero padding, PyTorch's default)
batch_norm_train,       ``f(x, weight=, bias=, running_mean=, running_var=, training=, momentum=,
batch_norm_eval         eps=) -> y``, running buffers updated in place and compared too
                        (x, weight, bias)
dense                   ``f(x, weight, bias) -> x @ weight.T + bias``, weight (out, in)
                        (x, weight, bias)
relu, sigmoid, tanh     ``f(x) -> y``  (x)
softmax,                ``f(x, axis) -> y`` (axis positional: minidl's ``axis``, torch's ``dim``)
log_softmax             (x)
cross_entropy           ``f(logits, target[, label_smoothing=]) -> mean loss``, integer labels
                        (logits)
mse                     ``f(input, target) -> mean of squares``  (input)
ridge, lasso            estimator class: ``cls(alpha=, fit_intercept=, ...).fit(X, y)`` ->
                        ``coef_``, ``intercept_`` (scikit-learn's objectives)
pca                     estimator class: ``cls(n_components=).fit(X)`` -> ``components_`` (each
                        row up to sign), ``explained_variance_``, ``mean_``
quantize                ``f(x, scale, zero_point[, bits=, signed=]) -> integer codes``
                        (round half to even, clamp to the integer range)
quantize_per_channel    ``f(x, scale, zero_point, axis[, bits=, signed=, narrow_range=])``
                        -> codes; scale and zero_point of length ``x.shape[axis]`` (one per
                        channel): ``clamp(round(x / S_c) + Z_c)``, rounding before adding
                        ``Z_c`` as ``torch.fake_quantize_per_channel_affine`` (``axis >= 0``)
choose_qparams          ``f(x_min, x_max[, bits=, symmetric=, signed=, narrow_range=]) ->
                        (scale, zero_point)``: PyTorch's MinMaxObserver rule in float32, per
                        tensor (0-d) or per channel (1-D); range widened to contain 0, scale at
                        least float32 eps, symmetric denominator (qmax - qmin) / 2
dequantize              ``f(q, scale, zero_point) -> scale * (q - zero_point)``
magnitude_mask          ``f(w, sparsity) -> 0/1 mask`` dropping the round(s n) smallest ``|w|``
global_magnitude_masks  ``f(weights, sparsity) -> masks``: lists of arrays; the round(s N)
                        smallest ``|w|`` over all N weights of all tensors go (PyTorch's
                        ``global_unstructured`` with L1Unstructured)
dropout_masked          ``f(x, mask, p) -> x * mask / (1 - p)``, mask 0/1 (1 = keep)  (x)
layer_norm, group_norm  ``f(x, normalized_shape | num_groups, weight, bias, eps=) -> y``
                        (x, weight, bias), as ``torch.nn.functional``
leaky_relu, elu, gelu,  ``f(x, negative_slope= | alpha= | approximate= | beta=, threshold=)``
softplus                (x)
multi_margin_loss       ``f(x, target, margin=) -> loss`` (PyTorch's: divided by C)  (x)
binary_cross_entropy    ``f(input, target) -> loss`` on probabilities (logs clamped at -100)
[_with_logits]          or logits  (input)
cross_entropy_probs     ``f(p, target) -> -mean log p[i, target_i]``  (p)
cross_entropy_onehot    ``f(logits, target) -> -sum(target log_softmax(logits)) / N``  (logits)
dense_flatten           ``f(x, weight, bias) -> x.reshape(N, -1) @ weight.T + bias``
conv_transpose1d/2d/3d  ``f(x, weight, bias, stride=, padding=, output_padding=, groups=,
                        dilation=) -> y``, weight (C_in, C_out/groups, *k)  (x, weight, bias)
sgd_step, adam_step,    ``f(param, grad, state..., hyperparameters=) -> (param, state...)``,
adamw_step              ``torch.optim``'s update (:mod:`minidl.optim.steps`)
im2col                  ``f(x, kernel_size=, dilation=, padding=, stride=) -> columns``
                        (N, C prod(k), L), channel-major rows (PyTorch's ``unfold``)  (x)
col2im                  ``f(x, output_size=, kernel_size=, ...) -> image``: each column
                        added back where it was read, overlaps summed (``fold``)  (x)
======================  ==========================================================================

Gradients are those of :math:`L = \sum y \cdot dy` for a fixed random upstream gradient ``dy``
stored with the case (never ones: a wrong batch-norm input gradient passes with ``dy = 1``).
Inputs are drawn from a generator seeded by the family and case name, so regenerating gives
the same bits; the golden ``.npz`` files store them anyway, and checks read only the files.
The cases themselves are in :mod:`~minidl.conformance.cases_network`,
:mod:`~minidl.conformance.cases_classical`, :mod:`~minidl.conformance.cases_courses` and
:mod:`~minidl.conformance.cases_windows` (these two define their families too); this module
names the families.
"""

from minidl.conformance import cases_classical as cl
from minidl.conformance import cases_courses as courses
from minidl.conformance import cases_network as net
from minidl.conformance import cases_windows as windows
from minidl.conformance.family import Case, Family

__all__ = ["FAMILIES", "Case", "Family", "get_family"]


# ------------------------------------------------------------------------------ the registry
def _families():
    fams = []
    for nd in (1, 2, 3):
        fams.append(
            Family(
                f"conv{nd}d",
                net.CONV_SIG,
                args=("x", "weight", "bias"),
                keywords=("stride", "padding", "dilation", "groups"),
                grad_wrt=("x", "weight", "bias"),
                layout=True,
                cases=net.conv_cases(nd),
            )
        )
    for kind in ("max", "avg"):
        for nd in (1, 2, 3):
            fams.append(
                Family(
                    f"{kind}_pool{nd}d",
                    net.POOL_SIG,
                    keywords=("kernel_size", "stride", "padding", "ceil_mode"),
                    grad_wrt=("x",),
                    layout=True,
                    cases=net.pool_cases(kind, nd),
                )
            )
    bn_kw = ("weight", "bias", "running_mean", "running_var", "training", "momentum", "eps")
    bn_sig = "f(x, weight=, bias=, running_mean=, running_var=, training=, momentum=, eps=) -> y"
    for training in (True, False):
        fams.append(
            Family(
                "batch_norm_train" if training else "batch_norm_eval",
                bn_sig,
                keywords=bn_kw,
                outputs=("y", "running_mean", "running_var"),
                grad_wrt=("x", "weight", "bias"),
                mutated=("running_mean", "running_var"),
                layout=True,
                cases=net.bn_cases(training),
            )
        )
    fams.append(
        Family(
            "dense",
            "f(x, weight, bias) -> x @ weight.T + bias",
            args=("x", "weight", "bias"),
            grad_wrt=("x", "weight", "bias"),
            cases=net.dense_cases(),
        )
    )
    for name in ("relu", "sigmoid", "tanh"):
        fams.append(Family(name, "f(x) -> y", grad_wrt=("x",), cases=net.elementwise_cases(name)))
    for name in ("softmax", "log_softmax"):
        fams.append(
            Family(
                name,
                "f(x, axis) -> y",
                args=("x", "axis"),
                grad_wrt=("x",),
                cases=net.softmax_cases(name),
            )
        )
    fams.append(
        Family(
            "cross_entropy",
            "f(logits, target[, label_smoothing=]) -> mean loss",
            args=("logits", "target"),
            keywords=("label_smoothing",),
            grad_wrt=("logits",),
            cases=net.ce_cases(),
        )
    )
    fams.append(
        Family(
            "mse",
            "f(input, target) -> mean((input - target)**2)",
            args=("input", "target"),
            grad_wrt=("input",),
            cases=net.mse_cases(),
        )
    )
    est = "cls(**kwargs).fit(X, y)"
    fams.append(
        Family(
            "ridge",
            est,
            kind="estimator",
            args=("X", "y"),
            outputs=("coef_", "intercept_"),
            rtol=1e-7,
            atol=1e-9,
            cases=cl.ridge_cases(),
        )
    )
    fams.append(
        Family(
            "lasso",
            est,
            kind="estimator",
            args=("X", "y"),
            outputs=("coef_", "intercept_"),
            rtol=1e-6,
            atol=1e-8,
            cases=cl.lasso_cases(),
        )
    )
    fams.append(
        Family(
            "pca",
            "cls(**kwargs).fit(X)",
            kind="estimator",
            args=("X",),
            outputs=("components_", "explained_variance_", "mean_"),
            up_to_sign=("components_",),
            cases=cl.pca_cases(),
        )
    )
    fams.append(
        Family(
            "quantize",
            "f(x, scale, zero_point[, bits=, signed=]) -> integer codes",
            args=("x", "scale", "zero_point"),
            keywords=("bits", "signed"),
            outputs=("q",),
            rtol=0.0,
            atol=0.0,
            cases=cl.quantize_cases(),
        )
    )
    fams.append(
        Family(
            "quantize_per_channel",
            "f(x, scale, zero_point, axis[, bits=, signed=, narrow_range=]) -> integer codes",
            args=("x", "scale", "zero_point", "axis"),
            keywords=("bits", "signed", "narrow_range"),
            outputs=("q",),
            rtol=0.0,
            atol=0.0,
            cases=cl.quantize_per_channel_cases(),
        )
    )
    fams.append(
        Family(
            "choose_qparams",
            "f(x_min, x_max[, bits=, symmetric=, signed=, narrow_range=]) -> (scale, zero_point)",
            args=("x_min", "x_max"),
            keywords=("bits", "symmetric", "signed", "narrow_range"),
            outputs=("scale", "zero_point"),
            # float32 arithmetic, as PyTorch's observers: the same formula in float64 differs by
            # at most two float32 roundings (2 * 2^-24 = 1.2e-7) of the scale
            rtol=2e-7,
            atol=0.0,
            cases=cl.choose_qparams_cases(),
        )
    )
    fams.append(
        Family(
            "dequantize",
            "f(q, scale, zero_point) -> scale * (q - zero_point)",
            args=("q", "scale", "zero_point"),
            rtol=1e-6,
            atol=1e-7,
            cases=cl.dequantize_cases(),
        )
    )
    fams.append(
        Family(
            "magnitude_mask",
            "f(w, sparsity) -> mask",
            args=("w", "sparsity"),
            outputs=("mask",),
            rtol=0.0,
            atol=0.0,
            cases=cl.mask_cases(),
        )
    )
    fams.append(
        Family(
            "global_magnitude_masks",
            "f(weights, sparsity) -> masks (lists of arrays, in the same order)",
            args=("weights", "sparsity"),
            outputs=("masks",),
            sequences=("weights", "masks"),
            rtol=0.0,
            atol=0.0,
            cases=cl.global_mask_cases(),
        )
    )
    fams.extend(courses.families())
    fams.extend(windows.families())
    return {f.name: f for f in fams}


FAMILIES = _families()


def get_family(name):
    """The :class:`Family` called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"case family must be one of {sorted(FAMILIES)}, got {name!r}")
    return FAMILIES[name]
