"""quantize_weights: weight-only b-bit quantization of a model, checked on hand-worked grids.

PyTorch agreement (its per-channel fake quantization) is in
tests/crosscheck/test_quantization_torch.py.
"""

import numpy as np
import pytest

from minidl.compression import quantize_weights
from minidl.layers import Conv2D, Dense, Flatten, ReLU
from minidl.nn.model import Sequential


def small_model(rng):
    model = Sequential([Conv2D(1, 2, 3, rng=rng), ReLU(), Flatten(), Dense(2 * 4 * 4, 3, rng=rng)])
    model.params["0.weight"][...] = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    return model


def test_hand_worked_two_bit_grid_per_channel_and_per_tensor(rng):
    # 2 bits symmetric: codes in [-2, 1], scale = max|w| / ((1 - (-2)) / 2) = max|w| / 1.5
    model = Sequential([Dense(3, 2, rng=rng)])
    model.params["0.weight"][...] = [[0.25, -0.9, 0.5], [0.1, 0.2, -0.03]]
    per_channel = quantize_weights(model, bits=2).params["0.weight"]
    # row 0: S = 0.6; 0.25/0.6 = 0.42 -> 0, -1.5 -> -2 (half to even), 0.83 -> 1
    # row 1: S = 0.2 / 1.5; 0.75 -> 1, 1.5 -> 1 or 2, clamped to 1 either way, -0.225 -> 0
    s1 = np.float32(0.2) / np.float32(1.5)
    np.testing.assert_allclose(per_channel, [[0.0, -1.2, 0.6], [s1, s1, 0.0]], rtol=1e-6)
    per_tensor = quantize_weights(model, bits=2, per_channel=False).params["0.weight"]
    # one S = 0.6: 0.1/0.6 and 0.2/0.6 round to 0, -0.03 too
    np.testing.assert_allclose(per_tensor, [[0.0, -1.2, 0.6], [0.0, 0.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weights_land_on_their_grid_and_nothing_else_changes(rng, bits):
    model = small_model(rng)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    q = quantize_weights(model, bits=bits)
    for key, w in model.state_dict().items():  # the input model is untouched
        np.testing.assert_array_equal(w, before[key])
    qmax = 2 ** (bits - 1) - 1
    for key in ("0.weight", "3.weight"):
        w, wq = before[key], q.params[key]
        flat, flat_q = w.reshape(len(w), -1), wq.reshape(len(w), -1)
        scale = np.abs(flat).max(axis=1, keepdims=True) / ((2**bits - 1) / 2)
        codes = flat_q / scale
        np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)  # integer codes
        assert np.all((codes >= -qmax - 1 - 1e-4) & (codes <= qmax + 1e-4))
        assert np.all(np.abs(flat_q - flat) <= scale / 2 * (1 + 1e-5) + 1e-7)  # nearest point
        assert wq.dtype == np.float32
    for key in ("0.bias", "3.bias"):
        np.testing.assert_array_equal(q.params[key], before[key])


def test_error_shrinks_by_about_6_db_per_bit(rng):
    model = small_model(rng)
    w = model.params["3.weight"]

    def sqnr(bits):
        e = quantize_weights(model, bits=bits).params["3.weight"] - w
        return 10 * np.log10(np.sum(w.astype(np.float64) ** 2) / np.sum(e.astype(np.float64) ** 2))

    gains = np.diff([sqnr(b) for b in (4, 5, 6, 7, 8)])
    assert np.all((gains > 4.5) & (gains < 7.5))  # uniform noise: 20 log10(2) = 6.02 dB a bit


def test_bad_arguments_name_themselves(rng):
    model = small_model(rng)
    with pytest.raises(ValueError, match="bits"):
        quantize_weights(model, bits=1)
    with pytest.raises(TypeError, match="bits"):
        quantize_weights(model, bits=2.5)
    with pytest.raises(TypeError, match="per_channel"):
        quantize_weights(model, bits=4, per_channel="yes")
