"""Cases of the network families: convolution, pooling, batch norm, dense, activations, losses.

Small shapes (the golden files stay well under 2 MB), non-square everywhere (C_in != C_out,
H != W, kernels with unequal sides) so that a transposed layout cannot pass by accident, and
random non-symmetric kernels so that a flipped kernel cannot either.
"""

from minidl.conformance.family import Case
from minidl.conformance.family import case_rng as _rng

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


def conv_cases(nd):
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
    # padding 2: "ignores padding" and "pads one less" agree wherever padding is 1
    ("k4_s2_pad2", (7, 6), 4, 2, 2, False),
]


def pool_cases(kind, nd):
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
def bn_cases(training):
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
def dense_cases():
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


def elementwise_cases(family):
    cases = []
    for name, shape in [("matrix", (4, 5)), ("image", (2, 3, 3, 2))]:
        x = _rng(family, name).normal(size=shape) * 3.0
        cases.append(Case(name, {"x": x}, {}))
    # large magnitudes: a naive sigmoid or softmax overflows here
    big = _rng(family, "large").normal(size=(3, 4)) * 40.0
    cases.append(Case("large", {"x": big}, {}))
    return cases


def softmax_cases(family):
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
def ce_cases():
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


def mse_cases():
    cases = []
    for name, shape in [("vector", (6,)), ("matrix", (4, 3)), ("image", (2, 2, 3, 3))]:
        r = _rng("mse", name)
        inputs = {"input": r.normal(size=shape), "target": r.normal(size=shape)}
        cases.append(Case(name, inputs, {}))
    return cases
