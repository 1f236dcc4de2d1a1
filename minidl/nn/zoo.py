r"""Model zoo: the networks of the source articles and the reference experiments, as builders.

Each builder returns a fresh :class:`minidl.nn.model.Sequential` whose weights come from ``rng``
(PyTorch's default initialization), in ``dtype`` (float32 by default). Every network ends in
*logits*: the articles' final ``Dense(10, activation='softmax')`` is split into ``Dense(10)``
here and the softmax inside :class:`minidl.nn.losses.CrossEntropyLoss` (log-sum-exp), which is the
same model with a numerically stable loss (Keras's ``from_logits=True``).

=========================  ==================================================  =============
builder                    layers (input)                                      parameters
=========================  ==================================================  =============
``article003_cnn``         Conv 32 3x3 - ReLU - MaxPool 2 - Conv 64 3x3 - ReLU  225,034
                           - MaxPool 2 - Flatten - Dense 128 - ReLU - Dense 10
                           (N, 1, 28, 28)
``article000_cnn``         Conv 32 3x3 - ReLU - MaxPool 2 - Conv 64 3x3 - ReLU  34,826
                           - MaxPool 2 - Flatten - Dense 10 (N, 1, 28, 28)
``lenet5``                 Conv 6 5x5 pad 2 - act - pool 2 - Conv 16 5x5 - act  61,706
                           - pool 2 - Dense 120 - act - Dense 84 - act - Dense 10
``lenet_300_100``          Dense 784-300 - ReLU - Dense 300-100 - ReLU -         266,610
                           Dense 100-10 (N, 1, 28, 28), flattened first
``lenet5_caffe``           Conv 20 5x5 - MaxPool 2 - Conv 50 5x5 - MaxPool 2 -  431,080
                           Flatten - Dense 800-500 - ReLU - Dense 500-10
``conv3d_net``             Conv3D 8 3x3x3 - ReLU - MaxPool (1,2,2) - Conv3D 16  (see below)
                           3x3x3 - ReLU - GlobalAvgPool - Dense (N, 1, T, H, W)
``conv2plus1d_net``        the same with ``Conv2Plus1D`` blocks in place of
                           the ``Conv3D`` layers (same weight count per block)
``frame_average_2d_net``   the same 2-D: Conv2D 8 3x3 - ReLU - MaxPool 2 -
                           Conv2D 16 3x3 - ReLU - GlobalAvgPool - Dense
                           on the time-averaged frame (N, 1, H, W)
=========================  ==================================================  =============

The article-003 model is ``tf.keras.Sequential([Conv2D(32, (3, 3), activation='relu',
input_shape=(28, 28, 1)), MaxPooling2D((2, 2)), Conv2D(64, (3, 3), ...), MaxPooling2D((2, 2)),
Flatten(), Dense(128, ...), Dense(10, activation='softmax')])`` of source article 003, section
4; article 000's (section 7) is the same without ``Dense(128)``. Keras's defaults are kept:
``'valid'`` convolutions, so 28 -> 26 -> 13 -> 11 -> 5 and Flatten gives 64 x 5 x 5 = 1,600.
Keras flattens channels last (H, W, C); minidl flattens channels first (C, H, W) like PyTorch,
which only permutes the rows of the first Dense weight.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array
from minidl.layers.activations import ReLU, Tanh
from minidl.layers.conv import Conv2D, Conv2Plus1D, Conv3D
from minidl.layers.dense import Dense
from minidl.layers.pool import AvgPool2D, GlobalAvgPool, MaxPool2D, MaxPool3D
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
_POOLS = {"max": MaxPool2D, "avg": AvgPool2D}


def _keras_conv_features(kw):
    """The feature extractor both articles' Keras CNNs share: (N, 1, 28, 28) -> (N, 1600).

    Conv2D(1, 32, 3) - ReLU - MaxPool2D(2) - Conv2D(32, 64, 3) - ReLU - MaxPool2D(2) - Flatten.
    """
    return [
        Conv2D(1, 32, 3, **kw),
        ReLU(),
        MaxPool2D(2),
        Conv2D(32, 64, 3, **kw),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
    ]


def article003_cnn(rng=None, dtype=np.float32):
    """Source article 003's Keras CNN for 28x28x1 digits, ending in 10 logits.

    Conv2D(1, 32, 3) - ReLU - MaxPool2D(2) - Conv2D(32, 64, 3) - ReLU - MaxPool2D(2) - Flatten -
    Dense(1600, 128) - ReLU - Dense(128, 10): 225,034 parameters, input (N, 1, 28, 28).
    """
    kw = dict(dtype=dtype, rng=get_rng(rng))
    features = _keras_conv_features(kw)  # first: the weights are drawn in layer order
    return Sequential(features + [Dense(64 * 5 * 5, 128, **kw), ReLU(), Dense(128, 10, **kw)])


def article000_cnn(rng=None, dtype=np.float32):
    """Source article 000's Keras example (section 7), ending in 10 logits.

    ``Input((28, 28, 1))`` - Conv2D(32, (3, 3), relu) - MaxPooling2D((2, 2)) - Conv2D(64, (3, 3),
    relu) - MaxPooling2D((2, 2)) - Flatten - Dense(10, softmax): 34,826 parameters. The article
    trains it with ``optimizer='adam'``, 10 epochs, batch 32.
    """
    kw = dict(dtype=dtype, rng=get_rng(rng))
    return Sequential(_keras_conv_features(kw) + [Dense(64 * 5 * 5, 10, **kw)])


def lenet5(rng=None, dtype=np.float32, activation="relu", pooling="max"):
    """LeNet-5 (LeCun et al. 1998) as commonly adapted today, for (N, 1, 28, 28) input.

    Conv2D(1, 6, 5, padding=2) - act - pool 2 - Conv2D(6, 16, 5) - act - pool 2 - Flatten -
    Dense(400, 120) - act - Dense(120, 84) - act - Dense(84, 10): 61,706 parameters.

    The default variant is ReLU with max pooling (``activation='relu', pooling='max'``);
    ``activation='tanh', pooling='avg'`` is closer to the 1998 paper. Both differ from the paper
    where it is rarely copied: padding 2 turns the 28x28 MNIST image into the paper's 32x32
    input; C3 here sees all 6 maps (the paper wired each of its 16 maps to a subset); the
    pooling has no trainable coefficient; the output is a Dense layer of logits, not the
    paper's Euclidean RBF units; the tanh is the plain one, not 1.7159 tanh(2x/3).
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if pooling not in _POOLS:
        raise ValueError(f"pooling must be one of {sorted(_POOLS)}, got {pooling!r}")
    act, pool = _ACTIVATIONS[activation], _POOLS[pooling]
    rng = get_rng(rng)
    kw = dict(dtype=dtype, rng=rng)
    return Sequential(
        [
            Conv2D(1, 6, 5, padding=2, **kw),
            act(),
            pool(2),
            Conv2D(6, 16, 5, **kw),
            act(),
            pool(2),
            Flatten(),
            Dense(16 * 5 * 5, 120, **kw),
            act(),
            Dense(120, 84, **kw),
            act(),
            Dense(84, 10, **kw),
        ]
    )


def _spatiotemporal(block, pool, n_classes, channels, rng, dtype):
    """Two conv blocks (3 per axis, 'same' padding) - ReLU - pool - ... - GlobalAvgPool - Dense."""
    rng = get_rng(rng)
    kw = dict(dtype=dtype, rng=rng)
    c1, c2 = channels
    return Sequential(
        [
            block(1, c1, 3, padding=1, **kw),
            ReLU(),
            pool,
            block(c1, c2, 3, padding=1, **kw),
            ReLU(),
            GlobalAvgPool(),
            Dense(c2, n_classes, **kw),
        ]
    )


def conv3d_net(rng=None, dtype=np.float32, n_classes=4, channels=(8, 16)):
    r"""A small 3-D CNN for clips (N, 1, T, H, W): kernels span time as well as space.

    Conv3D(1, c1, 3, padding=1) - ReLU - MaxPool3D((1, 2, 2)) - Conv3D(c1, c2, 3, padding=1) -
    ReLU - GlobalAvgPool - Dense(c2, n_classes). A 3x3x3 kernel sees a pixel at frames
    :math:`t-1, t, t+1`, so it can respond to an edge that moves one way and not the other;
    the pooling keeps all frames (it halves H and W only). Global average pooling makes the
    answer independent of where in the frame the glyph moves.
    """
    return _spatiotemporal(Conv3D, MaxPool3D((1, 2, 2)), n_classes, channels, rng, dtype)


def conv2plus1d_net(rng=None, dtype=np.float32, n_classes=4, channels=(8, 16)):
    """:func:`conv3d_net` with each Conv3D replaced by a ``Conv2Plus1D`` block (Tran et al. 2018).

    Each block is a (1, 3, 3) spatial conv, ReLU and a (3, 1, 1) temporal conv, with the middle
    width chosen so the block has as many weights as the 3x3x3 Conv3D it replaces.
    """
    return _spatiotemporal(Conv2Plus1D, MaxPool3D((1, 2, 2)), n_classes, channels, rng, dtype)


def frame_average_2d_net(rng=None, dtype=np.float32, n_classes=4, channels=(8, 16)):
    """The 2-D twin of :func:`conv3d_net`, for the time-averaged frame (N, 1, H, W).

    Conv2D(1, c1, 3, padding=1) - ReLU - MaxPool2D(2) - Conv2D(c1, c2, 3, padding=1) - ReLU -
    GlobalAvgPool - Dense(c2, n_classes). Feed it :func:`time_average` of the clips: it sees the
    streak a moving glyph leaves, which shows the axis of motion but not its sense.
    """
    return _spatiotemporal(Conv2D, MaxPool2D(2), n_classes, channels, rng, dtype)


def time_average(clips):
    r"""The mean frame of clips (N, C, T, H, W): :math:`\bar x[n, c] = \frac1T \sum_t x[n, c, t]`.

    Returns (N, C, H, W) in the clips' dtype: what a 2-D network sees when time is averaged away.
    """
    clips = check_float_array(clips, "clips", ndim=5)
    return clips.mean(axis=2, dtype=clips.dtype)


def lenet_300_100(rng=None, dtype=np.float32):
    """LeNet-300-100 (LeCun et al. 1998), the fully connected net of Han et al.'s Tables 1-2.

    Flatten - Dense(784, 300) - ReLU - Dense(300, 100) - ReLU - Dense(100, 10): 266,610
    parameters (1,066,440 bytes in float32, the "1070 KB" of Deep Compression's Table 1). The
    input is (N, 1, 28, 28) like the other MNIST nets.
    """
    kw = dict(dtype=dtype, rng=get_rng(rng))
    return Sequential(
        [Flatten(), Dense(784, 300, **kw), ReLU(), Dense(300, 100, **kw), ReLU(),
         Dense(100, 10, **kw)]
    )  # fmt: skip


def lenet5_caffe(rng=None, dtype=np.float32):
    """The LeNet-5 of Caffe's MNIST example, the one Han et al. compress (Tables 1 and 3).

    Conv2D(1, 20, 5) - MaxPool2D(2) - Conv2D(20, 50, 5) - MaxPool2D(2) - Flatten -
    Dense(800, 500) - ReLU - Dense(500, 10): 431,080 parameters (1,724,320 bytes in float32,
    the paper's "1720 KB"). As in Caffe's ``lenet_train_test.prototxt`` there is no
    nonlinearity after the convolutions (max pooling only) and the convolutions are 'valid':
    28 -> 24 -> 12 -> 8 -> 4, so Flatten gives 50 x 4 x 4 = 800. Not :func:`lenet5` (61,706
    parameters, LeCun's 6-16-120-84 layout).
    """
    kw = dict(dtype=dtype, rng=get_rng(rng))
    return Sequential(
        [Conv2D(1, 20, 5, **kw), MaxPool2D(2), Conv2D(20, 50, 5, **kw), MaxPool2D(2), Flatten(),
         Dense(800, 500, **kw), ReLU(), Dense(500, 10, **kw)]
    )  # fmt: skip
