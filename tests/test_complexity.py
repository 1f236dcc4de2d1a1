"""Complexity accounting: every number here is derived by hand in the comment beside it.
PyTorch's own parameter counts and hook-measured MACs are in tests/crosscheck/."""

import numpy as np
import pytest

from minidl.layers.activations import ReLU, Softmax
from minidl.layers.base import Layer
from minidl.layers.batchnorm import BatchNorm2D
from minidl.layers.conv import Conv1D, Conv2D, Conv2Plus1D, Conv3D
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.layers.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn import complexity as cx
from minidl.nn.model import Sequential


def test_torchinfo_mult_adds_differ_from_macs():
    # torchinfo's documented rule for a conv: mult-adds = (number of parameters, bias
    # included) x (output positions) x batch. Conv2d(1 -> 10, k=5) on [7, 1, 28, 28]:
    #   params     = 10 * (1*5*5 + 1)        = 260
    #   positions  = (28 - 5 + 1)^2          = 24 * 24 = 576
    #   mult-adds  = 260 * 576 * 7           = 1,048,320   (torchinfo's "Total mult-adds")
    # minidl counts weight multiply-accumulates per sample, no bias, no batch:
    #   MACs       = C_out * H_out * W_out * C_in * k * k = 10 * 24 * 24 * 1 * 25 = 144,000
    # and its FLOPs add the bias once per output: 2 * 144,000 + 10 * 576 = 293,760.
    layer = Conv2D(1, 10, 5)
    row = cx.summary([layer], (7, 1, 28, 28)).rows[0]
    assert row.params == 260 == 10 * (25 + 1)
    torchinfo_mult_adds = row.params * 24 * 24 * 7
    assert torchinfo_mult_adds == 1_048_320
    assert row.macs == 144_000 == 10 * 24 * 24 * 25
    assert row.flops == 293_760
    # the two conventions differ by the bias term and the batch: (25 + 1) / 25 * 7
    assert torchinfo_mult_adds / row.macs == pytest.approx(26 / 25 * 7)


def test_article_000_conv_relu_pool():
    # 64 images 1x100x100, 32 filters 5x5 SAME, ReLU, 2x2 max pool (article 000's TF code):
    s = cx.summary([Conv2D(1, 32, 5, padding="same"), ReLU(), MaxPool2D(2)], (64, 1, 100, 100))
    conv, relu, pool = s.rows
    assert conv.output_shape == (64, 32, 100, 100) and pool.output_shape == (64, 32, 50, 50)
    assert conv.params == 32 * 25 + 32 == 832
    assert conv.macs == 100 * 100 * 32 * 1 * 25 == 8_000_000
    assert conv.flops == 2 * 8_000_000 + 32 * 100 * 100 == 16_320_000
    assert relu.flops == 320_000  # one per element of 32x100x100
    assert pool.flops == 32 * 50 * 50 * 3 == 240_000  # 3 comparisons per 2x2 window
    # float32 outputs per sample: 32*100*100*4 bytes; pool 32*50*50*4
    assert conv.activation_bytes == relu.activation_bytes == 1_280_000
    assert pool.activation_bytes == 320_000
    # backward caches: conv its input (10,000 values x 4 bytes; im2col is gathered again in the
    # backward); ReLU its input; the 2x2 pool a uint8 first-max offset per output (32 * 50 * 50)
    assert conv.cache_bytes == 10_000 * 4
    assert relu.cache_bytes == 1_280_000 and pool.cache_bytes == 80_000
    assert s.total_macs == 8_000_000 and s.total_params == 832
    assert s.total_flops == 16_320_000 + 320_000 + 240_000
    assert s.total_activation_bytes == 2 * 1_280_000 + 320_000


def test_keras_cnn_of_article_000_section_7():
    # Conv2D(32, 3x3) -> pool -> Conv2D(64, 3x3) -> pool -> Flatten -> Dense(10) on 28x28x1.
    # 28 -> 26 -> 13 -> 11 -> 5 (floor) ; params 320 + 18,496 + 16,010 = 34,826 (the figure
    # Keras's model.summary() prints for this network).
    layers = [
        Conv2D(1, 32, 3), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3), ReLU(), MaxPool2D(2),
        Flatten(), Dense(1600, 10),
    ]  # fmt: skip
    s = cx.summary(Sequential(layers), (1, 1, 28, 28))
    assert [r.params for r in s.rows] == [320, 0, 0, 18_496, 0, 0, 0, 16_010]
    assert s.total_params == 34_826 == cx.count_params(layers)
    assert s.rows[0].macs == 26 * 26 * 32 * 9  # 194,688
    assert s.rows[3].macs == 11 * 11 * 64 * 32 * 9  # 2,230,272
    assert s.rows[7].macs == 1600 * 10
    assert s.total_macs == 194_688 + 2_230_272 + 16_000
    assert s.output_shape == (1, 10)
    # second pool: 11x11 -> 5x5 drops a row and a column; one uint8 offset per output
    assert s.rows[5].cache_bytes == 64 * 5 * 5


def test_conv_formulas_by_hand():
    assert cx.conv_macs(3, 16, (3, 3), (30, 30)) == 30 * 30 * 16 * 3 * 9
    assert cx.conv_macs(3, 16, (3, 3, 3), (16, 32, 32)) == 16 * 32 * 32 * 16 * 3 * 27
    # depthwise (groups = channels): each output channel sees one input channel
    assert cx.conv_macs(32, 32, 3, 10, groups=32) == 10 * 32 * 1 * 3
    assert cx.conv_macs(8, 4, (3, 5), (2, 2), groups=2) == 4 * 4 * 4 * 15
    assert cx.conv_params(3, 16, (3, 3)) == 16 * 27 + 16
    assert cx.conv_params(3, 16, (3, 3), bias=False) == 16 * 27
    assert cx.conv_flops(3, 16, (3, 3), (30, 30)) == 2 * 30 * 30 * 16 * 27 + 16 * 900


def test_tran_mid_channels_and_equal_weights():
    # Tran et al. 2018, t = k = 3, C_in = C_out = 64: M = floor(3*9*64*64 / (9*64 + 3*64))
    # = floor(110,592 / 768) = 144, and 9*64*144 + 3*144*64 = 82,944 + 27,648 = 110,592
    # weights, exactly the 3*3*3*64*64 = 110,592 of the full kernel.
    assert cx.mid_channels_tran(3, 3, 64, 64) == 144
    c = cx.compare_conv3d_2plus1d(64, 64, 3, (8, 56, 56), padding=1, bias=False)
    assert c.mid_channels == 144
    assert c.params_3d == c.params_2plus1d == 110_592
    # same output (8, 56, 56) and every frame kept, so MACs = weights x positions for both
    assert c.output_size == (8, 56, 56)
    assert c.macs_3d == c.macs_2plus1d == 110_592 * 8 * 56 * 56
    with_bias = cx.compare_conv3d_2plus1d(64, 64, 3, (8, 56, 56), padding=1)
    assert with_bias.params_3d == 110_592 + 64
    assert with_bias.params_2plus1d == 110_592 + 144 + 64  # two biases: M and C_out


def test_issue_benchmark_case_3d_vs_2plus1d():
    # Conv3D 3 -> 16, 3x3x3, padding 1 on 16x32x32 (the engine benchmark):
    #   3-D   : 16*32*32 positions x 16 x 3 x 27             = 21,233,664 MACs
    #   M     = floor(27*3*16 / (9*3 + 3*16)) = floor(1296 / 75) = 17
    #   (2+1)-D: spatial 16*32*32 x 17 x 3 x 9 = 7,520,256; temporal 16*32*32 x 16 x 17 x 3
    #          = 13,369,344; sum 20,889,600
    c = cx.compare_conv3d_2plus1d(3, 16, 3, (16, 32, 32), padding=1)
    assert (c.mid_channels, c.macs_3d, c.macs_2plus1d) == (17, 21_233_664, 20_889_600)
    assert cx.conv2plus1d_macs(3, 16, 3, 16, (16, 32, 32)) == (7_520_256, 13_369_344)
    # the layers give the same numbers
    full = cx.summary([Conv3D(3, 16, 3, padding=1)], (8, 3, 16, 32, 32)).rows[0]
    block = cx.summary([Conv2Plus1D(3, 16, 3, padding=1)], (8, 3, 16, 32, 32)).rows[0]
    assert (full.macs, block.macs) == (21_233_664, 20_889_600)
    assert full.params == c.params_3d and block.params == c.params_2plus1d
    # block FLOPs: 2 MACs + both bias adds (17 and 16 per position) + the ReLU between
    positions = 16 * 32 * 32
    assert block.flops == 2 * 20_889_600 + 17 * positions + 16 * positions + 17 * positions


def test_2plus1d_spatial_part_runs_on_input_frames():
    # valid padding, 10 input frames, t = 3: the spatial conv sees all 10 frames, the output 8
    spatial, temporal = cx.conv2plus1d_macs(2, 4, (3, 3, 3), 10, (8, 6, 6), mid=5)
    assert spatial == 10 * 6 * 6 * 5 * 2 * 9
    assert temporal == 8 * 6 * 6 * 4 * 5 * 3
    c = cx.compare_conv3d_2plus1d(2, 4, 3, (10, 8, 8), mid=5)
    assert c.output_size == (8, 6, 6) and c.macs_2plus1d == spatial + temporal
    assert c.macs_3d == 8 * 6 * 6 * 4 * 2 * 27
    # TF SAME with stride 2: ceil(10/2), ceil(8/2), ceil(8/2)
    same = cx.compare_conv3d_2plus1d(2, 4, 3, (10, 8, 8), stride=2, padding="same")
    assert same.output_size == (5, 4, 4)


def test_other_layers_rows():
    s = cx.summary(
        [BatchNorm2D(3), AvgPool2D(3, 2, 1), GlobalAvgPool(), Dropout(0.5), Softmax()],
        (4, 3, 8, 8),
        dtype=np.float64,
    )
    bn, avg, gap, drop, soft = s.rows
    assert (bn.params, bn.flops, bn.cache_bytes) == (6, 2 * 3 * 64, 3 * 64 * 4)  # BN is float32
    # AvgPool 3x3 s2 p1 on 8x8: out 4x4; 9 FLOPs (8 adds, 1 divide) per output
    assert avg.output_shape == (4, 3, 4, 4) and avg.flops == 9 * 48 and avg.cache_bytes == 0
    assert gap.output_shape == (4, 3) and gap.flops == 48  # one per input element
    assert drop.flops == 0 and drop.cache_bytes == 3 * 4  # float32 mask, after the BN
    assert soft.flops == 3 * 3
    assert s.rows[1].activation_bytes == 48 * 4
    assert cx.summary(Dropout(0.0), (2, 5)).rows[0].cache_bytes == 0  # nothing dropped, no mask


def test_max_pool_cache_general_path_and_dtypes():
    # 3x3 stride 2 is not a tiling: one uint8 argmax per output (9 taps < 256)
    row = cx.summary(MaxPool2D(3, 2), (1, 2, 7, 7)).rows[0]
    assert row.output_shape == (1, 2, 3, 3) and row.cache_bytes == 18 and row.flops == 8 * 18
    # float64 layers: 8-byte activations, and the dtype carries to the following ReLU
    s = cx.summary([Conv1D(2, 3, 3, dtype=np.float64), ReLU()], (5, 2, 10))
    assert s.rows[0].activation_bytes == s.rows[1].activation_bytes == 3 * 8 * 8


def test_summary_object_table_and_inputs():
    layers = [Conv2D(1, 4, 3), ReLU(), Flatten(), Dense(4 * 4 * 4, 2)]
    s = cx.summary(layers, (2, 1, 6, 6))
    assert [r.layer for r in s.rows] == ["Conv2D", "ReLU", "Flatten", "Dense"]
    assert s.rows[2].input_shape == (2, 4, 4, 4) and s.rows[2].output_shape == (2, 64)
    assert s.total_params == sum(r.params for r in s.rows) == 40 + 130
    assert s.total_flops == sum(r.flops for r in s.rows)
    text = str(s)
    for word in ("layer", "output shape", "params", "MACs", "FLOPs", "total", "per sample"):
        assert word in text
    assert f"{s.total_macs:,}" in text.splitlines()[-3]  # the totals line, with separators
    assert repr(s) == repr(cx.summary(layers, (2, 1, 6, 6)))  # deterministic (Sequential uses it)
    assert cx.summary(layers[0], (2, 1, 6, 6)).rows[0] == s.rows[0]  # one layer
    assert repr(cx.summary(Sequential(layers), (2, 1, 6, 6))) == repr(s)


def test_bad_inputs():
    class Mystery(Layer):
        pass

    with pytest.raises(TypeError, match="layer Mystery has no cost rule"):
        cx.summary([Mystery()], (1, 3))
    with pytest.raises(ValueError, match="input_shape"):
        cx.summary([ReLU()], (3,))
    with pytest.raises(TypeError, match="input_shape"):
        cx.summary([ReLU()], 3)
    with pytest.raises(ValueError, match="channels"):
        cx.summary([Conv2D(3, 4, 3)], (1, 1, 8, 8))  # the layer's own message
    with pytest.raises(ValueError, match="groups"):
        cx.conv_macs(6, 4, 3, 5, groups=4)
    with pytest.raises(ValueError, match="output_size"):
        cx.conv_macs(1, 1, (3, 3), (5, 5, 5))
    with pytest.raises(ValueError, match="in_channels"):
        cx.conv_macs(0, 1, 3, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        cx.compare_conv3d_2plus1d(1, 1, 5, (3, 8, 8))
    with pytest.raises(ValueError, match="padding"):
        cx.compare_conv3d_2plus1d(1, 1, 3, (3, 8, 8), padding="full")
    with pytest.raises(ValueError, match="mid"):
        cx.compare_conv3d_2plus1d(1, 1, 3, (3, 8, 8), mid=0)
