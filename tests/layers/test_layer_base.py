"""What every layer shares: the public bases, reset_parameters apart from __init__, from_config
without random draws, one owner per array, and the per-layer cost that summary reads."""

import numpy as np
import pytest

import minidl
from minidl.layers import (
    ELU,
    GELU,
    LAYERS,
    AvgPool2D,
    BatchNorm,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Conv2Plus1D,
    Conv3D,
    ConvND,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GroupNorm,
    LayerNorm,
    LeakyReLU,
    MaxPool3D,
    Pool,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from minidl.nn.complexity import summary


def test_public_bases_are_not_model_file_layers():
    for base in ("ConvND", "BatchNorm", "Pool", "Layer"):
        assert base not in LAYERS
    assert isinstance(Conv3D(1, 1, 1), ConvND) and isinstance(Conv1D(1, 1, 1), ConvND)
    assert isinstance(MaxPool3D(2), Pool) and isinstance(AvgPool2D(2), Pool)
    assert isinstance(BatchNorm2D(2), BatchNorm)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: Dense(5, 3, rng=rng),
        lambda rng: Conv2D(2, 4, 3, init="kaiming_normal", rng=rng),
        lambda rng: Conv2Plus1D(2, 3, 3, rng=rng),
    ],
)
def test_reset_parameters_draws_what_init_draws(make):
    layer = make(np.random.default_rng(5))
    first = {k: v.copy() for k, v in layer.params.items()}
    arrays = dict(layer.params)
    for v in layer.params.values():
        v[...] = 0.0
    layer.reset_parameters(np.random.default_rng(5))
    for k, v in layer.params.items():
        assert v is arrays[k]  # redrawn in place: a model's dicts and optimizers keep them
        np.testing.assert_array_equal(v, first[k])
    layer.reset_parameters(np.random.default_rng(6))  # another generator, other values
    assert all(not np.array_equal(v, first[k]) for k, v in layer.params.items() if "weight" in k)


def test_batch_norm_reset_parameters_restores_the_start():
    layer = BatchNorm2D(3)
    layer(np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32))
    layer.params["weight"][...] = 7
    assert layer.num_batches_tracked == 1 and np.any(layer.buffers["running_mean"] != 0)
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.params["weight"], 1)
    np.testing.assert_array_equal(layer.buffers["running_mean"], 0)
    np.testing.assert_array_equal(layer.buffers["running_var"], 1)
    assert layer.num_batches_tracked == 0


@pytest.mark.parametrize(
    "layer",
    [Dense(4, 3), Conv2D(2, 4, 3, padding="same"), Conv2Plus1D(2, 3, 3), BatchNorm2D(3),
     MaxPool3D(2), Dropout(0.2), Softmax(axis=-1), ConvTranspose2D(2, 4, 3, output_padding=0),
     LayerNorm([2, 3]), GroupNorm(2, 4), GELU("tanh")],
)  # fmt: skip
def test_from_config_draws_nothing(layer):
    minidl.seed(11)
    expected = minidl.get_rng().random()
    minidl.seed(11)
    rebuilt = type(layer).from_config(layer.get_config())
    assert minidl.get_rng().random() == expected  # the package stream did not move
    assert rebuilt.get_config() == layer.get_config()
    assert {k: v.shape for k, v in rebuilt.params.items()} == {
        k: v.shape for k, v in layer.params.items()
    }
    # outside from_config the constructor draws again
    minidl.seed(11)
    type(layer)(**layer.get_config())
    if layer.params and not isinstance(layer, (BatchNorm, LayerNorm, GroupNorm)):  # 1 and 0
        assert minidl.get_rng().random() != expected


def test_conv2plus1d_owns_no_array():
    block = Conv2Plus1D(2, 3, 3, padding=1)
    assert "params" not in vars(block) and "grads" not in vars(block)
    block.spatial.params["weight"] = np.ones_like(block.spatial.params["weight"])  # rebound
    assert block.params["spatial.weight"] is block.spatial.params["weight"]
    assert block.dtype == np.float32


LAYER_CASES = [
    (Dense(6, 4), (2, 6)),
    (Conv2D(2, 4, 3, groups=2), (2, 2, 6, 6)),
    (Conv2Plus1D(2, 3, 3, padding=1), (1, 2, 4, 5, 5)),
    (MaxPool3D(2), (1, 2, 4, 4, 4)),
    (AvgPool2D(3, 2, 1, ceil_mode=True), (2, 3, 7, 7)),
    (GlobalAvgPool(), (2, 3, 4, 4)),
    (BatchNorm2D(3), (2, 3, 4, 4)),
    (ReLU(), (2, 5)),
    (LeakyReLU(), (2, 5)),
    (Sigmoid(), (2, 5)),
    (Tanh(), (2, 5)),
    (Softmax(), (2, 5)),
    (Dropout(0.5), (2, 5)),
    (Flatten(), (2, 3, 4)),
    (ELU(), (2, 5)),
    (GELU(), (2, 5)),
    (Softplus(), (2, 5)),
    (LayerNorm((3, 4)), (2, 5, 3, 4)),
    (GroupNorm(2, 4), (2, 4, 3)),
    (ConvTranspose2D(2, 4, 3, stride=2, groups=2), (2, 2, 3, 5)),
]


@pytest.mark.parametrize(("layer", "shape"), LAYER_CASES, ids=lambda v: type(v).__name__)
def test_summary_reads_the_layers_cost(layer, shape):
    row = summary([layer], shape, dtype=np.float64).rows[0]
    dtype = layer.dtype or np.float64
    assert (row.macs, row.flops, row.cache_bytes) == tuple(layer.cost(shape, dtype))


def test_every_registered_layer_has_a_cost():
    import minidl.layers  # noqa: F401  (registers every layer of the package)

    own = {name for name, cls in LAYERS.items() if cls.__module__.startswith("minidl.layers")}
    tested = {type(layer).__name__ for layer, _ in LAYER_CASES}
    assert own - tested <= {"Conv1D", "Conv3D", "MaxPool1D", "MaxPool2D", "AvgPool1D",
                            "AvgPool3D", "BatchNorm1D", "BatchNorm3D", "ConvTranspose1D",
                            "ConvTranspose3D"}  # fmt: skip
