r"""Conformance families: what a candidate function must look like, and the cases it is run on.

A *family* fixes a calling convention (the one minidl and ``torch.nn.functional`` share) and a
list of *cases*: seeded float64 inputs and keyword values. A candidate is called as

.. code-block:: python

    out = fn(*[value[a] for a in family.args], **{k: value[k] for k in family.keywords
                                                   if k in the case})

where ``value`` looks a name up in the case's arrays first, then in its keywords (absent
optional arrays such as a missing ``bias`` are passed as ``None``). Estimator families call
``fn(**kwargs).fit(X, y)`` and read the fitted attributes. The signatures:

===================  ==========================================================================
family               candidate signature  ->  compared outputs (gradients w.r.t.)
===================  ==========================================================================
conv1d/2d/3d         ``f(x, weight, bias, stride=, padding=, dilation=, groups=) -> y``
                     x (N, C, *spatial), weight (C_out, C_in/groups, *k); padding an int, a
                     tuple, ``'valid'`` or ``'same'`` (TensorFlow SAME)  (x, weight, bias)
max_pool1d/2d/3d,    ``f(x, kernel_size=, stride=, padding=, ceil_mode=) -> y``  (x)
avg_pool1d/2d/3d     (average pooling counts the zero padding, PyTorch's default)
batch_norm_train,    ``f(x, weight=, bias=, running_mean=, running_var=, training=, momentum=,
batch_norm_eval      eps=) -> y``, running buffers updated in place and compared too
                     (x, weight, bias)
dense                ``f(x, weight, bias) -> x @ weight.T + bias``, weight (out, in)
                     (x, weight, bias)
relu, sigmoid, tanh  ``f(x) -> y``  (x)
softmax,             ``f(x, axis) -> y`` (axis positional: minidl's ``axis``, torch's ``dim``)
log_softmax          (x)
cross_entropy        ``f(logits, target[, label_smoothing=]) -> mean loss``, integer labels
                     (logits)
mse                  ``f(input, target) -> mean of squares``  (input)
ridge, lasso         estimator class: ``cls(alpha=, fit_intercept=, ...).fit(X, y)`` ->
                     ``coef_``, ``intercept_`` (scikit-learn's objectives)
pca                  estimator class: ``cls(n_components=).fit(X)`` -> ``components_`` (each
                     row up to sign), ``explained_variance_``, ``mean_``
quantize             ``f(x, scale, zero_point[, bits=, signed=]) -> integer codes``
                     (round half to even, clamp to the integer range)
dequantize           ``f(q, scale, zero_point) -> scale * (q - zero_point)``
magnitude_mask       ``f(w, sparsity) -> 0/1 mask`` dropping the round(s n) smallest ``|w|``
===================  ==========================================================================

Gradients are those of :math:`L = \sum y \cdot dy` for a fixed random upstream gradient ``dy``
stored with the case (never ones: a wrong batch-norm input gradient passes with ``dy = 1``).
Inputs are drawn from a generator seeded by the family and case name, so regenerating gives
the same bits; the golden ``.npz`` files store them anyway, and checks read only the files.
"""

import zlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    """One case: a name, its arrays (``inputs``) and its JSON-able keyword values."""

    name: str
    inputs: dict
    kwargs: dict


@dataclass(frozen=True)
class Family:
    """A calling convention, the compared outputs and the default tolerance (float64)."""

    name: str
    signature: str
    kind: str = "function"  # or "estimator"
    args: tuple = ("x",)
    keywords: tuple = ()
    outputs: tuple = ("y",)
    grad_wrt: tuple = ()
    mutated: tuple = ()  # input arrays updated in place, compared after the call
    up_to_sign: tuple = ()  # outputs whose rows are compared up to sign (PCA components)
    layout: bool = False  # channels-first x -> y (NHWC adapter and hypothesis apply)
    rtol: float = 1e-7
    atol: float = 1e-9
    cases: list = field(default_factory=list, compare=False)


def _rng(family, case):
    return np.random.default_rng(zlib.crc32(f"{family}/{case}".encode()))


# ------------------------------------------------------------------------------ convolution
CONV_SIG = "f(x, weight, bias, stride=, padding=, dilation=, groups=) -> y"
# (name, spatial input size, kernel, C_in, C_out, stride, padding, dilation, groups, bias)
_CONV_2D = [
    ("basic", (6, 5), (3, 2), 3, 4, 1, 0, 1, 1, True),
    ("stride2_pad1", (7, 6), (3, 3), 2, 3, 2, 1, 1, 1, True),
    ("same_stride1", (5, 6), (3, 3), 2, 3, 1, "same", 1, 1, True),
    ("same_stride2_tf", (6, 7), (3, 2), 2, 3, 2, "same", 1, 1, True),
    ("same_even_kernel", (5, 5), (2, 4), 2, 2, 1, "same", 1, 1, True),
    ("valid", (5, 6), (2, 3), 2, 3, 1, "valid", 1, 1, True),
    ("dilation2_pad2", (7, 7), (3, 3), 2, 3, 1, 2, 2, 1, True),
    ("dilation3_stride2", (9, 8), (2, 3), 1, 2, 2, 1, 3, 1, True),
    ("groups2", (5, 4), (3, 3), 4, 6, 1, 1, 1, 2, True),
    ("depthwise", (5, 5), (3, 3), 3, 3, 1, 1, 1, 3, True),
    ("no_bias", (5, 4), (2, 2), 2, 3, 1, 0, 1, 1, False),
    ("anisotropic", (8, 7), (3, 2), 2, 3, (2, 1), (1, 0), (1, 2), 1, True),
]


def _conv_cases(nd):
    family = f"conv{nd}d"
    cases = []
    for name, size, kernel, c_in, c_out, stride, padding, dilation, groups, bias in _CONV_2D:
        if nd != 2 and name == "anisotropic":
            continue
        if nd == 3 and name in ("dilation3_stride2", "same_even_kernel", "valid"):
            continue  # keep the 3-D golden file small; 2-D covers these conventions
        # 1-D takes the first spatial size, 3-D adds a small depth axis in front
        size = size[:1] if nd == 1 else ((4,) + size if nd == 3 else size)
        kernel = kernel[:1] if nd == 1 else ((2,) + kernel if nd == 3 else kernel)
        if nd == 3 and name == "dilation2_pad2":
            kernel = (1,) + kernel[1:]
        r = _rng(family, name)
        inputs = {
            "x": r.normal(size=(2, c_in) + size),
            "weight": r.normal(size=(c_out, c_in // groups) + kernel),
        }
        if bias:
            inputs["bias"] = r.normal(size=c_out)

        def per_axis(v):
            return v if isinstance(v, (int, str)) else list(v)

        kwargs = {
            "stride": per_axis(stride),
            "padding": per_axis(padding),
            "dilation": per_axis(dilation),
            "groups": groups,
        }
        cases.append(Case(name, inputs, kwargs))
    return cases


# ------------------------------------------------------------------------------ pooling
POOL_SIG = "f(x, kernel_size=, stride=, padding=, ceil_mode=) -> y"
# (name, spatial size, kernel, stride, padding, ceil_mode)
_POOL_2D = [
    ("tile2", (6, 4), 2, 2, 0, False),
    ("k3_s2_pad1", (7, 6), 3, 2, 1, False),
    ("k3_s1", (5, 5), 3, 1, 0, False),
    ("ceil_mode", (7, 5), 2, 2, 0, True),
    ("k2_s1_pad1", (4, 5), 2, 1, 1, False),
    ("anisotropic", (6, 7), (2, 3), (1, 2), (1, 1), False),
]


def _pool_cases(kind, nd):
    family = f"{kind}_pool{nd}d"
    cases = []
    for name, size, kernel, stride, padding, ceil_mode in _POOL_2D:
        if nd != 2 and name == "anisotropic":
            continue
        if nd == 3 and name in ("k3_s1", "k2_s1_pad1"):
            continue
        size = size[:1] if nd == 1 else ((4,) + size if nd == 3 else size)
        r = _rng(family, name)
        x = r.normal(size=(2, 3) + size)
        kwargs = {
            "kernel_size": kernel if isinstance(kernel, int) else list(kernel),
            "stride": stride if isinstance(stride, int) else list(stride),
            "padding": padding if isinstance(padding, int) else list(padding),
            "ceil_mode": ceil_mode,
        }
        cases.append(Case(name, {"x": x}, kwargs))
    return cases


# ------------------------------------------------------------------------------ batch norm
def _bn_cases(training):
    family = "batch_norm_train" if training else "batch_norm_eval"
    shapes = [("dense", (5, 3)), ("1d", (3, 3, 4)), ("2d", (2, 3, 3, 4)), ("3d", (2, 2, 2, 3, 3))]
    cases = []
    for i, (name, shape) in enumerate(shapes):
        r = _rng(family, name)
        c = shape[1]
        inputs = {
            # a channel offset and scale, so the statistics are far from (0, 1)
            "x": 1.5 + 2.0 * r.normal(size=shape),
            "weight": r.normal(size=c),
            "bias": r.normal(size=c),
            "running_mean": r.normal(size=c),
            "running_var": r.uniform(0.5, 2.0, size=c),
        }
        kwargs = {"training": training, "momentum": (0.1, 0.3)[i % 2], "eps": (1e-5, 1e-3)[i % 2]}
        cases.append(Case(name, inputs, kwargs))
    return cases


# ------------------------------------------------------------------------------ dense, activations
def _dense_cases():
    cases = []
    for name, (n, fin, fout), bias in [
        ("basic", (4, 5, 3), True),
        ("no_bias", (3, 4, 6), False),
        ("single_row", (1, 6, 2), True),
    ]:
        r = _rng("dense", name)
        inputs = {"x": r.normal(size=(n, fin)), "weight": r.normal(size=(fout, fin))}
        if bias:
            inputs["bias"] = r.normal(size=fout)
        cases.append(Case(name, inputs, {}))
    return cases


def _elementwise_cases(family):
    cases = []
    for name, shape in [("matrix", (4, 5)), ("image", (2, 3, 3, 2))]:
        x = _rng(family, name).normal(size=shape) * 3.0
        cases.append(Case(name, {"x": x}, {}))
    # large magnitudes: a naive sigmoid or softmax overflows here
    big = _rng(family, "large").normal(size=(3, 4)) * 40.0
    cases.append(Case("large", {"x": big}, {}))
    return cases


def _softmax_cases(family):
    cases = []
    for name, shape, axis in [
        ("classes", (4, 5), 1),
        ("channels_3d", (2, 4, 3), 1),
        ("channels_4d", (2, 3, 2, 2), 1),
        ("last_axis", (2, 3, 4), -1),
    ]:
        x = _rng(family, name).normal(size=shape) * 2.0
        cases.append(Case(name, {"x": x}, {"axis": axis}))
    big = _rng(family, "large").normal(size=(3, 4)) * 1000.0  # e^x overflows past 709
    cases.append(Case("large", {"x": big}, {"axis": 1}))
    return cases


# ------------------------------------------------------------------------------ losses
def _ce_cases():
    cases = []
    for name, (n, k), smoothing in [("basic", (5, 4), None), ("smoothing", (4, 3), 0.1)]:
        r = _rng("cross_entropy", name)
        inputs = {"logits": r.normal(size=(n, k)) * 2.0, "target": r.integers(0, k, size=n)}
        kwargs = {} if smoothing is None else {"label_smoothing": smoothing}
        cases.append(Case(name, inputs, kwargs))
    r = _rng("cross_entropy", "large")
    inputs = {"logits": r.normal(size=(3, 4)) * 500.0, "target": r.integers(0, 4, size=3)}
    cases.append(Case("large", inputs, {}))
    return cases


def _mse_cases():
    cases = []
    for name, shape in [("vector", (6,)), ("matrix", (4, 3)), ("image", (2, 2, 3, 3))]:
        r = _rng("mse", name)
        inputs = {"input": r.normal(size=shape), "target": r.normal(size=shape)}
        cases.append(Case(name, inputs, {}))
    return cases


# ------------------------------------------------------------------------------ classical
def _regression_data(family, name, n, p):
    r = _rng(family, name)
    X = r.normal(size=(n, p)) + r.normal(size=p)  # nonzero column means: the intercept matters
    w = r.normal(size=p) * (r.uniform(size=p) < 0.6)
    return {"X": X, "y": X @ w + 0.7 + 0.3 * r.normal(size=n)}


def _ridge_cases():
    return [
        Case("alpha1", _regression_data("ridge", "alpha1", 20, 5), {"alpha": 1.0}),
        Case(
            "no_intercept",
            _regression_data("ridge", "no_intercept", 15, 4),
            {"alpha": 0.3, "fit_intercept": False},
        ),
        Case("wide", _regression_data("ridge", "wide", 8, 12), {"alpha": 0.5}),
    ]


def _lasso_cases():
    # tol and max_iter tight, so the golden coefficients are the exact minimizer to ~1e-12
    tight = {"tol": 1e-12, "max_iter": 100000}
    return [
        Case("alpha0.1", _regression_data("lasso", "alpha0.1", 30, 6), {"alpha": 0.1, **tight}),
        Case("sparse", _regression_data("lasso", "sparse", 25, 8), {"alpha": 0.3, **tight}),
        Case(
            "no_intercept",
            _regression_data("lasso", "no_intercept", 20, 5),
            {"alpha": 0.05, "fit_intercept": False, **tight},
        ),
    ]


def _pca_cases():
    cases = []
    for name, (n, p), k in [("k2", (30, 5), 2), ("all", (10, 4), None), ("wide", (6, 8), 3)]:
        r = _rng("pca", name)
        # distinct column scales: well-separated eigenvalues, components defined up to sign only
        X = r.normal(size=(n, p)) * np.linspace(3.0, 0.5, p) + r.normal(size=p)
        cases.append(Case(name, {"X": X}, {"n_components": k}))
    return cases


# ------------------------------------------------------------------------------ compression
def _quantize_cases():
    cases = []
    r = _rng("quantize", "int8")
    cases.append(Case("int8", {"x": r.normal(size=(4, 6))}, {"scale": 0.02, "zero_point": 3}))
    r = _rng("quantize", "uint8")
    x = r.uniform(-1.0, 3.0, size=(3, 5))
    cases.append(
        Case("uint8", {"x": x}, {"scale": 4.0 / 255, "zero_point": 64, "bits": 8, "signed": False})
    )
    # exact ties: scale a power of two, x = (k + 1/2) scale, so rounding half to even shows
    k = np.arange(-6, 6, dtype=np.float64)
    cases.append(Case("ties", {"x": (k + 0.5) * 0.25}, {"scale": 0.25, "zero_point": -2}))
    # saturation: values far outside the representable range are clamped
    x = np.array([-100.0, -3.0, -1.0, 0.0, 0.4, 2.9, 50.0])
    cases.append(Case("saturate", {"x": x}, {"scale": 0.05, "zero_point": 0}))
    return cases


def _dequantize_cases():
    cases = []
    for name, (lo, hi), scale, zp in [
        ("int8", (-128, 128), 0.02, 3),
        ("zp_neg", (-20, 20), 0.5, -7),
    ]:
        q = _rng("dequantize", name).integers(lo, hi, size=(3, 5)).astype(np.int8)
        cases.append(Case(name, {"q": q}, {"scale": scale, "zero_point": zp}))
    return cases


def _mask_cases():
    cases = []
    for name, shape, s in [
        ("matrix_half", (6, 5), 0.5),
        ("conv_weight", (4, 2, 3, 3), 0.3),
        ("none", (3, 4), 0.0),
        ("most", (5, 7), 0.9),
    ]:
        w = _rng("magnitude_mask", name).normal(size=shape)
        cases.append(Case(name, {"w": w}, {"sparsity": s}))
    return cases


# ------------------------------------------------------------------------------ the registry
def _families():
    fams = []
    for nd in (1, 2, 3):
        fams.append(
            Family(
                f"conv{nd}d",
                CONV_SIG,
                args=("x", "weight", "bias"),
                keywords=("stride", "padding", "dilation", "groups"),
                grad_wrt=("x", "weight", "bias"),
                layout=True,
                cases=_conv_cases(nd),
            )
        )
    for kind in ("max", "avg"):
        for nd in (1, 2, 3):
            fams.append(
                Family(
                    f"{kind}_pool{nd}d",
                    POOL_SIG,
                    keywords=("kernel_size", "stride", "padding", "ceil_mode"),
                    grad_wrt=("x",),
                    layout=True,
                    cases=_pool_cases(kind, nd),
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
                cases=_bn_cases(training),
            )
        )
    fams.append(
        Family(
            "dense",
            "f(x, weight, bias) -> x @ weight.T + bias",
            args=("x", "weight", "bias"),
            grad_wrt=("x", "weight", "bias"),
            cases=_dense_cases(),
        )
    )
    for name in ("relu", "sigmoid", "tanh"):
        fams.append(Family(name, "f(x) -> y", grad_wrt=("x",), cases=_elementwise_cases(name)))
    for name in ("softmax", "log_softmax"):
        fams.append(
            Family(
                name,
                "f(x, axis) -> y",
                args=("x", "axis"),
                grad_wrt=("x",),
                cases=_softmax_cases(name),
            )
        )
    fams.append(
        Family(
            "cross_entropy",
            "f(logits, target[, label_smoothing=]) -> mean loss",
            args=("logits", "target"),
            keywords=("label_smoothing",),
            grad_wrt=("logits",),
            cases=_ce_cases(),
        )
    )
    fams.append(
        Family(
            "mse",
            "f(input, target) -> mean((input - target)**2)",
            args=("input", "target"),
            grad_wrt=("input",),
            cases=_mse_cases(),
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
            cases=_ridge_cases(),
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
            cases=_lasso_cases(),
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
            cases=_pca_cases(),
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
            cases=_quantize_cases(),
        )
    )
    fams.append(
        Family(
            "dequantize",
            "f(q, scale, zero_point) -> scale * (q - zero_point)",
            args=("q", "scale", "zero_point"),
            rtol=1e-6,
            atol=1e-7,
            cases=_dequantize_cases(),
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
            cases=_mask_cases(),
        )
    )
    return {f.name: f for f in fams}


FAMILIES = _families()


def get_family(name):
    """The :class:`Family` called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"case family must be one of {sorted(FAMILIES)}, got {name!r}")
    return FAMILIES[name]
