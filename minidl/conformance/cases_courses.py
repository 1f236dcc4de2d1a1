"""Families and cases of what courses teach (issue 16): masked dropout, layer and group norm,
leaky ReLU, ELU, GELU, softplus, the hinge and binary/probability cross-entropy losses, dense
with flattening, transposed convolution, and the SGD/Adam/AdamW steps.

Signatures follow ``torch.nn.functional`` (the optimizer steps: :mod:`minidl.optim.steps`).
Shapes stay small and non-square, values seeded by family and case name; each case exists to
tell a convention apart (a large eps, a dampening, a bias correction far from 1...).
"""

import numpy as np

from minidl.conformance.family import Case, Family
from minidl.conformance.family import case_rng as _rng


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def dropout_cases():
    cases = []
    for name, shape, p in [("matrix", (4, 5), 0.5), ("image", (2, 3, 2, 3), 0.2),
                           ("p_0.7", (3, 6), 0.7)]:  # fmt: skip
        r = _rng("dropout_masked", name)
        mask = (r.random(shape) >= p).astype(np.float64)
        cases.append(Case(name, {"x": r.normal(size=shape), "mask": mask}, {"p": p}))
    return cases


def layer_norm_cases():
    cases = []
    for name, shape, ns, affine, eps in [
        ("last_axis", (4, 5), [5], True, 1e-5),
        ("two_axes", (2, 3, 4), [3, 4], True, 1e-5),
        ("no_affine", (3, 6), [6], False, 1e-5),
        ("eps_1e-3", (2, 3, 4), [4], True, 1e-3),
    ]:
        r = _rng("layer_norm", name)
        inputs = {"x": 1.0 + 2.0 * r.normal(size=shape)}
        if affine:
            inputs.update(weight=r.normal(size=ns), bias=r.normal(size=ns))
        cases.append(Case(name, inputs, {"normalized_shape": ns, "eps": eps}))
    return cases


def group_norm_cases():
    cases = []
    for name, shape, groups, affine, eps in [
        ("two_groups", (2, 4, 3), 2, True, 1e-5),
        ("image", (2, 6, 2, 3), 3, True, 1e-5),
        ("instance", (2, 3, 4), 3, True, 1e-5),
        ("one_group", (3, 4, 2), 1, False, 1e-5),
        ("eps_1e-3", (2, 4, 5), 2, True, 1e-3),
    ]:
        r = _rng("group_norm", name)
        inputs = {"x": 1.0 + 2.0 * r.normal(size=shape)}
        if affine:
            inputs.update(weight=r.normal(size=shape[1]), bias=r.normal(size=shape[1]))
        cases.append(Case(name, inputs, {"num_groups": groups, "eps": eps}))
    return cases


def activation_cases(family, variants):
    """Each keyword variant on a matrix, an image, and large values (an overflow shows)."""
    cases = []
    for label, kwargs in variants:
        for name, shape, scale in [("matrix", (4, 5), 3.0), ("image", (2, 3, 3, 2), 3.0),
                                   ("large", (3, 4), 40.0)]:  # fmt: skip
            full = f"{name}{label}"
            cases.append(Case(full, {"x": _rng(family, full).normal(size=shape) * scale}, kwargs))
    return cases


def margin_cases():
    cases = []
    for name, (n, c), margin in [("basic", (5, 4), None), ("margin_0.5", (6, 3), 0.5),
                                 ("many_classes", (3, 7), None)]:  # fmt: skip
        r = _rng("multi_margin_loss", name)
        inputs = {"x": r.normal(size=(n, c)), "target": r.integers(0, c, size=n)}
        cases.append(Case(name, inputs, {} if margin is None else {"margin": margin}))
    return cases


def bce_cases(logits):
    family = "binary_cross_entropy" + ("_with_logits" if logits else "")
    cases = []
    for name, shape in [("basic", (4, 3)), ("soft_targets", (5,)), ("extreme", (3, 4))]:
        r = _rng(family, name)
        target = r.uniform(size=shape) if name == "soft_targets" else r.integers(0, 2, shape) * 1.0
        if logits:
            x = r.normal(size=shape) * (60.0 if name == "extreme" else 2.0)
        else:
            x = r.uniform(0.02, 0.98, size=shape)
            if name == "extreme":  # confident answers, right and wrong: log(p + 1e-7) shows
                right = r.random(shape) < 0.5  # (1e-3 from 0 and 1: the gradcheck stays valid)
                x = np.where(right == (target > 0.5), 1 - 1e-3, 1e-3)
        cases.append(Case(name, {"input": x, "target": target}, {}))
    return cases


def ce_probs_cases():
    cases = []
    for name, (n, k), scale in [("basic", (5, 4), 1.0), ("confident", (4, 6), 4.0)]:
        r = _rng("cross_entropy_probs", name)
        p = _softmax(r.normal(size=(n, k)) * scale)
        target = r.integers(0, k, size=n)
        if name == "confident":  # the least likely class above 2e-3: a confident wrong answer
            target = np.argmin(np.where(p >= 2e-3, p, np.inf), axis=1)  # (and a valid gradcheck)
        cases.append(Case(name, {"p": p, "target": target}, {}))
    return cases


def ce_onehot_cases():
    cases = []
    for name, (n, k), scale in [("one_hot", (5, 4), 2.0), ("soft_labels", (4, 3), 2.0),
                                ("large", (3, 5), 300.0)]:  # fmt: skip
        r = _rng("cross_entropy_onehot", name)
        target = np.eye(k)[r.integers(0, k, size=n)]
        if name == "soft_labels":
            target = _softmax(r.normal(size=(n, k)))
        cases.append(Case(name, {"logits": r.normal(size=(n, k)) * scale, "target": target}, {}))
    return cases


def dense_flatten_cases():
    cases = []
    for name, shape, n_out in [("image", (3, 2, 3, 2), 4), ("sequence", (2, 4, 3), 5),
                               ("matrix", (4, 5), 3)]:  # fmt: skip
        r = _rng("dense_flatten", name)
        d = int(np.prod(shape[1:]))
        inputs = {"x": r.normal(size=shape), "weight": r.normal(size=(n_out, d)),
                  "bias": r.normal(size=n_out)}  # fmt: skip
        cases.append(Case(name, inputs, {}))
    return cases


# (name, input size, kernel, C_in, C_out, stride, padding, output_padding, groups, dilation, bias)
_CONVT_2D = [
    ("basic", (3, 4), (3, 2), 3, 2, 1, 0, 0, 1, 1, True),
    ("stride2_pad1", (3, 3), (3, 3), 2, 3, 2, 1, 0, 1, 1, True),
    ("output_padding", (3, 4), (3, 3), 2, 3, 2, 1, 1, 1, 1, True),
    ("dilation2", (3, 3), (2, 3), 2, 3, 1, 1, 0, 1, 2, True),
    ("groups2", (3, 3), (2, 2), 4, 6, 2, 0, 1, 2, 1, True),
    ("no_bias", (4, 3), (2, 2), 2, 3, 1, 0, 0, 1, 1, False),
    ("anisotropic", (3, 4), (3, 2), 2, 3, (2, 1), (1, 0), (1, 0), 1, (1, 2), True),
]


def conv_transpose_cases(nd):
    family, cases = f"conv_transpose{nd}d", []
    for name, size, kernel, c_in, c_out, stride, pad, out_pad, groups, dil, bias in _CONVT_2D:
        if nd != 2 and name in ("anisotropic", "dilation2", "no_bias"):
            continue
        size = size[:1] if nd == 1 else ((2,) + size if nd == 3 else size)
        kernel = kernel[:1] if nd == 1 else ((2,) + kernel if nd == 3 else kernel)
        r = _rng(family, name)
        inputs = {"x": r.normal(size=(2, c_in) + size),
                  "weight": r.normal(size=(c_in, c_out // groups) + kernel)}  # fmt: skip
        if bias:
            inputs["bias"] = r.normal(size=c_out)
        listed = [v if isinstance(v, int) else list(v) for v in (stride, pad, out_pad, dil)]
        kwargs = dict(zip(("stride", "padding", "output_padding", "dilation"), listed, strict=True))
        cases.append(Case(name, inputs, dict(kwargs, groups=groups)))
    return cases


def sgd_cases():
    cases = []
    for name, later, kwargs in [
        ("first_step", False, dict(lr=0.1, momentum=0.9)),
        ("later_step", True, dict(lr=0.1, momentum=0.9)),
        ("dampening", True, dict(lr=0.05, momentum=0.8, dampening=0.3)),
        ("first_step_dampening", False, dict(lr=0.05, momentum=0.8, dampening=0.3)),
        ("nesterov", True, dict(lr=0.05, momentum=0.9, nesterov=True)),
        ("weight_decay", True, dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    ]:
        r = _rng("sgd_step", name)
        inputs = {"param": r.normal(size=(3, 4)), "grad": r.normal(size=(3, 4))}
        if later:
            inputs["momentum_buffer"] = r.normal(size=(3, 4))
        cases.append(Case(name, inputs, kwargs))
    return cases


def adam_cases(family):
    cases = []
    decay = 0.01 if family == "adamw_step" else 0.1
    for name, step, kwargs in [
        ("first_step", 1, dict(lr=0.01)),
        ("step_5", 5, dict(lr=0.01)),
        ("large_eps", 3, dict(lr=0.05, eps=0.1)),
        ("betas", 2, dict(lr=0.02, betas=[0.8, 0.99])),
        ("weight_decay", 4, dict(lr=0.01, weight_decay=decay)),
    ]:
        r = _rng(family, name)
        inputs = {"param": r.normal(size=(3, 4)), "grad": r.normal(size=(3, 4))}
        if step > 1:  # moments after a few steps (v >= 0)
            inputs.update(exp_avg=0.1 * r.normal(size=(3, 4)),
                          exp_avg_sq=0.01 * r.uniform(0.1, 1, size=(3, 4)))  # fmt: skip
        cases.append(Case(name, inputs, dict(kwargs, step=step)))
    return cases


CONVT_SIG = "f(x, weight, bias, stride=, padding=, output_padding=, groups=, dilation=) -> y"
SGD_SIG = ("f(param, grad, momentum_buffer, lr=, momentum=, dampening=, nesterov=, "
           "weight_decay=) -> (param, momentum_buffer)")  # fmt: skip
ADAM_SIG = ("f(param, grad, exp_avg, exp_avg_sq, step=, lr=, betas=, eps=, weight_decay=) -> "
            "(param, exp_avg, exp_avg_sq)")  # fmt: skip
ADAM_KW = ("step", "lr", "betas", "eps", "weight_decay")


def families():
    """The :class:`Family` records of this module, in the order ``--list`` shows them."""
    x_grad = dict(grad_wrt=("x",))
    affine = dict(grad_wrt=("x", "weight", "bias"))
    loss = dict(grad_wrt=("input",), args=("input", "target"))
    fams = [
        Family("dropout_masked", "f(x, mask, p) -> x * mask / (1 - p)", args=("x", "mask", "p"),
               cases=dropout_cases(), **x_grad),
        Family("layer_norm", "f(x, normalized_shape, weight, bias, eps=) -> y",
               args=("x", "normalized_shape", "weight", "bias"), keywords=("eps",),
               cases=layer_norm_cases(), **affine),
        Family("group_norm", "f(x, num_groups, weight, bias, eps=) -> y",
               args=("x", "num_groups", "weight", "bias"), keywords=("eps",),
               cases=group_norm_cases(), **affine),
        Family("leaky_relu", "f(x, negative_slope=) -> y", keywords=("negative_slope",),
               cases=activation_cases("leaky_relu", [("", {"negative_slope": 0.01}),
                                                     ("_slope_0.2", {"negative_slope": 0.2})]),
               **x_grad),
        Family("elu", "f(x, alpha=) -> y", keywords=("alpha",), **x_grad,
               cases=activation_cases("elu", [("", {"alpha": 1.0}),
                                              ("_alpha_0.5", {"alpha": 0.5})])),
        Family("gelu", "f(x, approximate=) -> y ('none': x Phi(x); 'tanh': PyTorch's tanh form)",
               keywords=("approximate",), **x_grad,
               cases=activation_cases("gelu", [("", {"approximate": "none"}),
                                               ("_tanh", {"approximate": "tanh"})])),
        Family("softplus", "f(x, beta=, threshold=) -> y", keywords=("beta", "threshold"),
               cases=activation_cases("softplus", [("", {}), ("_beta2_t1",
                                                              {"beta": 2.0, "threshold": 1.0})]),
               **x_grad),
        Family("multi_margin_loss", "f(x, target, margin=) -> mean over N of (1/C) sum of hinges",
               args=("x", "target"), keywords=("margin",), grad_wrt=("x",), cases=margin_cases()),
        Family("binary_cross_entropy", "f(input, target) -> mean BCE of probabilities",
               cases=bce_cases(False), **loss),
        Family("binary_cross_entropy_with_logits", "f(input, target) -> mean BCE of logits",
               cases=bce_cases(True), **loss),
        Family("cross_entropy_probs", "f(p, target) -> -mean log p[i, target[i]]",
               args=("p", "target"), grad_wrt=("p",), cases=ce_probs_cases()),
        Family("cross_entropy_onehot", "f(logits, target) -> -sum(target * log_softmax) / N",
               args=("logits", "target"), grad_wrt=("logits",), cases=ce_onehot_cases()),
        Family("dense_flatten", "f(x, weight, bias) -> x.reshape(N, -1) @ weight.T + bias",
               args=("x", "weight", "bias"), cases=dense_flatten_cases(), **affine),
    ]  # fmt: skip
    for nd in (1, 2, 3):
        fams.append(Family(
            f"conv_transpose{nd}d", CONVT_SIG, args=("x", "weight", "bias"),
            keywords=("stride", "padding", "output_padding", "groups", "dilation"),
            layout=True, cases=conv_transpose_cases(nd), **affine))  # fmt: skip
    fams.append(Family(
        "sgd_step", SGD_SIG, args=("param", "grad", "momentum_buffer"),
        keywords=("lr", "momentum", "dampening", "nesterov", "weight_decay"),
        outputs=("param", "momentum_buffer"), cases=sgd_cases()))  # fmt: skip
    for name in ("adam_step", "adamw_step"):
        fams.append(Family(
            name, ADAM_SIG, args=("param", "grad", "exp_avg", "exp_avg_sq"), keywords=ADAM_KW,
            outputs=("param", "exp_avg", "exp_avg_sq"), cases=adam_cases(name)))  # fmt: skip
    return fams
