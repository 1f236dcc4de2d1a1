"""LayerNorm, GroupNorm, ELU, GELU, Softplus and ConvTranspose1D/2D/3D: a PyTorch module's
``state_dict`` loads as is and gives the same outputs and gradients; gradchecks; bad arguments.
(Saving and loading in a fresh process: tests/test_serialization_layers.py; cost rules:
tests/layers/test_layer_base.py.)"""

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers import (
    ELU,
    GELU,
    ConvTranspose1D,
    ConvTranspose2D,
    ConvTranspose3D,
    GroupNorm,
    LayerNorm,
    Softplus,
)
from minidl.nn.model import Sequential

F64 = np.float64
# (minidl layer, the torch module's constructor as (name, args, kwargs), input shape)
PAIRS = [
    (lambda: LayerNorm((3, 4), dtype=F64), ("LayerNorm", ((3, 4),), {}), (2, 5, 3, 4)),
    (lambda: LayerNorm(4, eps=1e-3, bias=False, dtype=F64),
     ("LayerNorm", (4,), dict(eps=1e-3, bias=False)), (3, 4)),
    (lambda: GroupNorm(2, 6, dtype=F64), ("GroupNorm", (2, 6), {}), (2, 6, 3, 2)),
    (lambda: GroupNorm(3, 3, affine=False, dtype=F64), ("GroupNorm", (3, 3), dict(affine=False)),
     (2, 3, 5)),
    (lambda: ELU(0.7), ("ELU", (0.7,), {}), (3, 4)),
    (lambda: GELU(), ("GELU", (), {}), (3, 4)),
    (lambda: GELU("tanh"), ("GELU", (), dict(approximate="tanh")), (3, 4)),
    (lambda: Softplus(2.0, 1.0), ("Softplus", (2.0, 1.0), {}), (3, 4)),
    (lambda: ConvTranspose2D(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2,
                             dilation=(1, 2), dtype=F64, rng=0),
     ("ConvTranspose2d", (4, 6, (3, 2)), dict(stride=2, padding=1, output_padding=1, groups=2,
                                              dilation=(1, 2))), (2, 4, 3, 4)),
    (lambda: ConvTranspose1D(2, 3, 3, stride=3, bias=False, dtype=F64, rng=1),
     ("ConvTranspose1d", (2, 3, 3), dict(stride=3, bias=False)), (2, 2, 5)),
    (lambda: ConvTranspose3D(1, 2, 2, padding=(0, 1, 0), dtype=F64, rng=2),
     ("ConvTranspose3d", (1, 2, 2), dict(padding=(0, 1, 0))), (1, 1, 2, 3, 2)),
]  # fmt: skip
IDS = [p[1][0] + str(i) for i, p in enumerate(PAIRS)]


@pytest.mark.parametrize(("make", "spec", "shape"), PAIRS, ids=IDS)
def test_pytorch_state_dict_loads_and_agrees(make, spec, shape):
    torch = pytest.importorskip("torch")
    name, args, kwargs = spec
    module = getattr(torch.nn, name)(*args, **kwargs).double()
    with torch.no_grad():  # non-default affine values, so a swapped weight/bias would show
        for p in module.parameters():
            p.copy_(torch.randn_like(p))
    model = Sequential([make()])
    model.load_state_dict({f"0.{k}": v.numpy() for k, v in module.state_dict().items()})
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=shape), None
    y = model(x)
    dy = rng.normal(size=y.shape)
    dx = model.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dy))
    # float64 on both sides, the same formulas in a different summation order
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for key, p in module.named_parameters():
        np.testing.assert_allclose(model.grads[f"0.{key}"], p.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)  # fmt: skip


@pytest.mark.parametrize(("make", "spec", "shape"), PAIRS, ids=IDS)
def test_gradcheck(make, spec, shape):
    layer = make()
    for p in layer.params.values():  # away from gamma = 1, beta = 0
        p[...] = np.random.default_rng(4).normal(size=p.shape)
    x = np.random.default_rng(5).normal(size=shape)
    errors = check_layer(layer, x, rng=6)
    assert max(errors.values()) < 1e-6, errors


def test_float32_layers_stay_float32():
    for layer, shape in [(LayerNorm(4), (2, 4)), (GroupNorm(1, 2), (2, 2, 3)),
                         (ConvTranspose2D(2, 2, 2), (1, 2, 3, 3)), (GELU(), (2, 3))]:  # fmt: skip
        y = layer(np.ones(shape, dtype=np.float32))
        assert y.dtype == np.float32
        assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GroupNorm(4, 6), "num_groups=4 must divide num_channels=6"),
        (lambda: ConvTranspose2D(2, 3, 3, groups=2), "groups=2 must divide"),
        (lambda: ConvTranspose2D(2, 2, 3, stride=2, output_padding=2), "output_padding must be"),
        (lambda: LayerNorm(0), "normalized_shape"),
        (lambda: GELU("erf"), "approximate must be 'none' or 'tanh'"),
        (lambda: Softplus(beta=-1.0), "beta must be a finite positive"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"LayerNorm expected input .* ending in normalized_sh"):
        LayerNorm((3, 4))(np.ones((2, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GroupNorm expected input \(N, 4, ...\)"):
        GroupNorm(2, 4)(np.ones((2, 3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="ConvTranspose2D expected input with 2 channels"):
        ConvTranspose2D(2, 2, 2)(np.ones((1, 3, 4, 4), dtype=np.float32))
