"""Real storage: byte counts by hand, encode/decode round trips, and files that really are that
small and load back to the (dequantized) outputs."""

import os

import numpy as np
import pytest

from minidl.compression.pruning import apply_masks, model_masks
from minidl.compression.quantization import dequantize
from minidl.compression.storage import (
    decode_weight,
    encode_weight,
    load_compressed,
    model_bytes,
    quantize_weight_int8,
    save_compressed,
)
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _model(rng):
    return Sequential(
        [
            Conv2D(1, 8, 3, rng=rng),
            ReLU(),
            Flatten(),
            Dense(8 * 36, 300, rng=rng),
            BatchNorm1D(300),
            ReLU(),
            Dense(300, 10, rng=rng),
        ]
    )


def _nbytes(enc):
    return sum(a.nbytes for a in enc.values())


def test_byte_counts_by_hand(rng):
    w = (rng.choice([-1, 1], size=(4, 300)) * rng.uniform(0.5, 1, size=(4, 300))).astype(np.float32)
    w[:, :240] = 0  # 80% zeros, 60 nonzeros per row (none so small that its int8 code is 0)
    assert _nbytes(encode_weight(w)) == 4 * 1200
    assert _nbytes(encode_weight(w, int8=True)) == 1200 + 4 * 4
    assert _nbytes(encode_weight(w, "bitmask")) == 1200 // 8 + 4 * 240
    assert _nbytes(encode_weight(w, "bitmask", int8=True)) == 1200 // 8 + 240 + 16
    # CSR: 300 columns need uint16 indices; 5 int32 row pointers
    assert _nbytes(encode_weight(w, "csr")) == 4 * 240 + 2 * 240 + 4 * 5
    assert _nbytes(encode_weight(w, "auto", int8=True)) == 1200 // 8 + 240 + 16


@pytest.mark.parametrize("sparse", [None, "bitmask", "csr"])
def test_round_trip_exact_in_float32_and_within_half_step_in_int8(rng, sparse):
    w = rng.normal(size=(5, 3, 2, 2)).astype(np.float32)
    w[rng.random(w.shape) < 0.7] = 0
    np.testing.assert_array_equal(decode_weight(encode_weight(w, sparse), w.shape), w)
    codes, scale = quantize_weight_int8(w)
    back = decode_weight(encode_weight(w, sparse, int8=True), w.shape)
    np.testing.assert_array_equal(back, dequantize(codes, scale, np.zeros(5, int), axis=0))
    step = np.abs(w).reshape(5, -1).max(1) / 127
    assert np.all(np.abs(back - w) <= step[:, None, None, None] / 2 * (1 + 1e-6))
    assert np.all(back[w == 0] == 0)


def test_saved_file_is_small_and_loads_to_same_outputs(rng, tmp_path):
    model = _model(rng)
    model.train()
    x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
    model(x)  # BatchNorm statistics to save
    apply_masks(model, model_masks(model, 0.9, scope="global"))
    dense_path, small_path = tmp_path / "dense.npz", tmp_path / "small.npz"
    model.save(dense_path)
    size = save_compressed(model, small_path)
    assert size == os.path.getsize(small_path)
    counted = model_bytes(model, "auto", int8=True)
    n_arrays = 3 * 3 + 4 + 1  # 3 weights (values, scale, mask), 3 biases + BN 4, metadata
    assert counted < size < counted + 400 * n_arrays + 2000  # headers only on top
    assert os.path.getsize(dense_path) / size > 10
    loaded = load_compressed(small_path)
    # reference: the model with its weights replaced by the int8 dequantization, written out
    # with the quantization module directly (no sparse encoding involved)
    for key in ("0.weight", "3.weight", "6.weight"):
        codes, scale = quantize_weight_int8(model.params[key])
        model.params[key][...] = dequantize(codes, scale, np.zeros(len(scale), int), axis=0)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]


def test_float32_sparse_file_loads_exactly(rng, tmp_path):
    model = _model(rng)
    apply_masks(model, model_masks(model, 0.5))
    save_compressed(model, tmp_path / "m.npz", sparse="csr", int8=False, compress=True)
    loaded = load_compressed(tmp_path / "m.npz")
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)


def test_storage_bad_inputs(rng, tmp_path):
    with pytest.raises(ValueError, match="sparse"):
        encode_weight(np.ones((2, 2)), "coo")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="corrupt"):
        load_compressed(bad)
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="corrupt or not one"):
        load_compressed(tmp_path / "other.npz")
    enc = encode_weight(np.eye(3, dtype=np.float32), "bitmask")
    enc["values"] = enc["values"][:2]
    with pytest.raises(ValueError, match="corrupt"):
        decode_weight(enc, (3, 3))
