"""minidl.nn.zoo: architectures (shapes, parameter counts worked out by hand), seeding, dtypes."""

import numpy as np
import pytest

from minidl.layers.conv import Conv2D, Conv2Plus1D, Conv3D
from minidl.layers.pool import AvgPool2D, MaxPool2D
from minidl.nn import zoo
from minidl.nn.model import Sequential


def conv(c_in, c_out, k, nd=2):
    return c_out * c_in * k**nd + c_out


def dense(i, o):
    return o * i + o


def n_params(model):
    return sum(p.size for p in model.params.values())


# Keras's model.summary() for article 003's model prints 320 / 18,496 / 204,928 / 1,290 =
# 225,034 trainable parameters; the counts below are the same sums by hand.
ARCHS = [
    (zoo.article003_cnn, conv(1, 32, 3) + conv(32, 64, 3) + dense(1600, 128) + dense(128, 10)),
    (zoo.article000_cnn, conv(1, 32, 3) + conv(32, 64, 3) + dense(1600, 10)),
    (zoo.lenet5, conv(1, 6, 5) + conv(6, 16, 5) + dense(400, 120) + dense(120, 84) + dense(84, 10)),
    # Han et al. 2016, Tables 2-3: 266K and 431K weights (1070 KB and 1720 KB in float32)
    (zoo.lenet_300_100, dense(784, 300) + dense(300, 100) + dense(100, 10)),
    (zoo.lenet5_caffe, conv(1, 20, 5) + conv(20, 50, 5) + dense(800, 500) + dense(500, 10)),
]


@pytest.mark.parametrize("build,expected", ARCHS)
def test_mnist_nets_shapes_and_parameter_counts(build, expected, rng):
    model = build(rng=rng)
    assert isinstance(model, Sequential)
    assert n_params(model) == expected
    assert model.output_shape((3, 1, 28, 28)) == (3, 10)
    x = rng.random((3, 1, 28, 28)).astype(np.float32)
    out = model(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    dx = model.backward(rng.normal(size=out.shape).astype(np.float32))
    assert dx.shape == x.shape
    assert all(np.any(g != 0) for g in model.grads.values())


def test_article003_feature_map_sizes():
    # Keras 'valid' 3x3 convs and 2x2 pools: 28 -> 26 -> 13 -> 11 -> 5
    model = zoo.article003_cnn(rng=0)
    shape, shapes = (1, 1, 28, 28), []
    for layer in model:
        shape = layer.output_shape(shape)
        shapes.append(shape)
    assert shapes[0] == (1, 32, 26, 26) and shapes[2] == (1, 32, 13, 13)
    assert shapes[3] == (1, 64, 11, 11) and shapes[5] == (1, 64, 5, 5)
    assert shapes[6] == (1, 1600)


def test_lenet5_variants():
    relu = zoo.lenet5(rng=0)
    classic = zoo.lenet5(rng=0, activation="tanh", pooling="avg")
    assert isinstance(relu[2], MaxPool2D) and isinstance(classic[2], AvgPool2D)
    assert type(classic[1]).__name__ == "Tanh" and type(relu[1]).__name__ == "ReLU"
    assert relu[0].padding == (2, 2)  # 28x28 padded to the paper's 32x32
    # the variants differ only in parameter-free layers: same seed, same weights
    for k, v in relu.params.items():
        np.testing.assert_array_equal(v, classic.params[k])


@pytest.mark.parametrize(
    "build,block,shape",
    [
        (zoo.conv3d_net, Conv3D, (2, 1, 8, 16, 16)),
        (zoo.conv2plus1d_net, Conv2Plus1D, (2, 1, 8, 16, 16)),
        (zoo.frame_average_2d_net, Conv2D, (2, 1, 16, 16)),
    ],
)
def test_spatiotemporal_nets(build, block, shape, rng):
    model = build(rng=rng, n_classes=4)
    assert isinstance(model[0], block) and isinstance(model[3], block)
    out = model(rng.random(shape).astype(np.float32))
    assert out.shape == (2, 4)
    assert model.output_shape((5,) + shape[1:]) == (5, 4)


def test_conv3d_and_2plus1d_have_about_the_same_size():
    # Tran et al.'s middle width keeps each (2+1)-D block within rounding of the 3-D conv
    full = n_params(zoo.conv3d_net(rng=0))
    split = n_params(zoo.conv2plus1d_net(rng=0))
    assert full == conv(1, 8, 3, nd=3) + conv(8, 16, 3, nd=3) + dense(16, 4)
    assert abs(split - full) / full < 0.05


def test_seeding_and_dtype():
    a, b, c = zoo.article003_cnn(rng=7), zoo.article003_cnn(rng=7), zoo.article003_cnn(rng=8)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)
    m64 = zoo.lenet5(rng=0, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in m64.params.values())
    assert m64(np.zeros((1, 1, 28, 28))).dtype == np.float64


def test_time_average_by_hand():
    clips = np.zeros((1, 1, 4, 2, 2), dtype=np.float32)
    clips[0, 0, :, 0, 0] = [1, 2, 3, 6]
    avg = zoo.time_average(clips)
    assert avg.shape == (1, 1, 2, 2) and avg.dtype == np.float32
    assert avg[0, 0, 0, 0] == 3.0 and avg[0, 0, 1, 1] == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="activation"):
        zoo.lenet5(activation="sigmoid")
    with pytest.raises(ValueError, match="pooling"):
        zoo.lenet5(pooling="median")
    with pytest.raises(ValueError, match="clips"):
        zoo.time_average(np.zeros((2, 1, 16, 16), dtype=np.float32))
    with pytest.raises(TypeError, match="dtype"):
        zoo.article003_cnn(dtype=np.int32)
    with pytest.raises(ValueError, match="channels"):
        zoo.article003_cnn(rng=0)(np.zeros((1, 3, 28, 28), dtype=np.float32))
