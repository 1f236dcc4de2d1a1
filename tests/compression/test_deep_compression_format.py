"""The Deep Compression file: the reported size is the file's size to the byte, stream sizes
match their formulas by hand, the file loads back to exactly the shared-weight model, and a
corrupt file is refused with a clear error."""

import math
import os

import numpy as np
import pytest

from minidl.compression import huffman
from minidl.compression.deep_compression_format import (
    MAGIC,
    deep_compressed_parts,
    load_deep_compressed,
    pack_fixed,
    save_deep_compressed,
    size_report,
    unpack_fixed,
)
from minidl.compression.pruning import apply_masks, model_masks
from minidl.compression.relative_index import to_relative
from minidl.compression.storage import load_compressed, save_compressed
from minidl.compression.weight_sharing import share_model_weights
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _shared_model(rng, sparsity=0.8, bits=4):
    model = Sequential(
        [Conv2D(1, 4, 3, rng=rng), ReLU(), Flatten(), Dense(4 * 36, 60, rng=rng),
         BatchNorm1D(60), ReLU(), Dense(60, 10, rng=rng)]
    )  # fmt: skip
    model.layers[4].buffers["running_mean"][...] = rng.normal(size=60)
    apply_masks(model, model_masks(model, sparsity))
    share_model_weights(model, bits)
    return model


@pytest.mark.parametrize("coding", ["huffman", "fixed"])
def test_reported_size_is_the_file_size_and_loads_back_exactly(rng, tmp_path, coding):
    model = _shared_model(rng)
    path = tmp_path / "m.mdc"
    report = save_deep_compressed(model, path, index_bits=4, coding=coding)
    assert report["total"] == os.path.getsize(path)
    assert report["total"] == sum(v for k, v in report.items() if k != "total")
    back = load_deep_compressed(path)
    for key, arr in model.state_dict().items():
        assert np.array_equal(back.state_dict()[key], arr), key  # bit for bit
        assert back.state_dict()[key].dtype == arr.dtype
    x = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    model.eval()
    assert np.array_equal(back.predict(x), model.predict(x))


def test_fixed_streams_have_the_sizes_of_their_formulas(rng):
    model = _shared_model(rng, sparsity=0.9, bits=3)
    parts, header = deep_compressed_parts(model, bits=3, index_bits=4, coding="fixed")
    w = model.params["3.weight"].ravel()
    nz = np.flatnonzero(w)
    n_entries = len(to_relative(nz, 4)[0])  # nonzeros + fillers
    info = next(t for t in header["tensors"] if t["key"] == "3.weight")
    n_values = len(np.unique(w[nz]))
    assert info["n_entries"] == n_entries and n_values <= 7
    # codebook: 4 bytes per centroid; weights: 3 bits per entry; indices: 4 bits per entry
    assert info["sections"] == [4 * n_values, math.ceil(3 * n_entries / 8),
                                math.ceil(4 * n_entries / 8)]  # fmt: skip
    report = size_report(parts, header)
    shared = {"0.weight", "3.weight", "6.weight"}  # the Conv and Dense weights
    floats = sum(a.size for k, a in model.state_dict().items() if k not in shared)
    assert report["float32"] == 4 * floats  # biases and BatchNorm: 4 bytes each


def test_huffman_streams_are_the_coded_bits(rng):
    model = _shared_model(rng, sparsity=0.9, bits=5)
    parts, header = deep_compressed_parts(model, index_bits=5, coding="huffman")
    info = next(t for t in header["tensors"] if t["key"] == "3.weight")
    w = model.params["3.weight"].ravel()
    codes, entries = to_relative(np.flatnonzero(w), 5)
    code = huffman.HuffmanCode.from_symbols(codes, 32)
    # sections: codebook, weight table, weight stream, index table, index stream
    assert info["sections"][4] == math.ceil(code.coded_bits(codes) / 8)
    assert info["sections"][3] == len(huffman.table_to_bytes(code))


def test_unshared_and_dense_weights(rng, tmp_path):
    # a weight with > 255 distinct values is stored as float32; a dense shared weight
    # (no zeros) has no index stream; both load back exactly
    model = Sequential([Dense(30, 20, rng=rng), ReLU(), Dense(20, 5, rng=rng)])
    share_model_weights(model, {"2.weight": 3})
    parts, header = deep_compressed_parts(model)
    kinds = {t["key"]: t for t in header["tensors"]}
    assert kinds["0.weight"]["kind"] == "float32" and not kinds["2.weight"]["sparse"]
    assert len(kinds["2.weight"]["sections"]) == 3  # codebook, table, weight stream
    save_deep_compressed(model, tmp_path / "d.mdc")
    back = load_deep_compressed(tmp_path / "d.mdc")
    assert all(np.array_equal(back.params[k], v) for k, v in model.params.items())


def test_save_compressed_dispatch(rng, tmp_path):
    model = _shared_model(rng)
    size = save_compressed(model, tmp_path / "m.mdc", format="deep_compression", index_bits=5)
    assert size == os.path.getsize(tmp_path / "m.mdc")
    back = load_compressed(tmp_path / "m.mdc")
    assert all(np.array_equal(back.params[k], v) for k, v in model.params.items())
    with pytest.raises(ValueError, match="format"):
        save_compressed(model, tmp_path / "x", format="zip")


def test_pack_fixed_by_hand():
    # 5, 1, 7 in 3 bits: 101 001 111 -> 10100111 1(0000000)
    assert list(pack_fixed(np.array([5, 1, 7]), 3)) == [0b10100111, 0b10000000]
    assert list(unpack_fixed(np.array([0b10100111, 0b10000000], np.uint8), 3, 3)) == [5, 1, 7]


def test_corrupt_files_are_refused(rng, tmp_path):
    model = _shared_model(rng)
    path = tmp_path / "m.mdc"
    save_deep_compressed(model, path)
    raw = path.read_bytes()
    cases = {
        "magic": b"XXXXXXXX" + raw[8:],
        "truncated": raw[:-10],
        "after the last section": raw + b"\0\0",
        "header": raw[:12] + bytes(20) + raw[32:],
    }
    for what, blob in cases.items():
        bad = tmp_path / f"bad-{what[:5]}.mdc"
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match="corrupt or not one") as err:
            load_deep_compressed(bad)
        assert str(bad) in str(err.value), what
    assert raw.startswith(MAGIC)


def test_bad_arguments(rng, tmp_path):
    model = _shared_model(rng, bits=4)
    with pytest.raises(ValueError, match="coding"):
        save_deep_compressed(model, tmp_path / "m", coding="lzw")
    with pytest.raises(ValueError, match="index_bits"):
        save_deep_compressed(model, tmp_path / "m", index_bits=9)
    with pytest.raises(ValueError, match="cannot hold"):
        save_deep_compressed(model, tmp_path / "m", bits=2)
    with pytest.raises(TypeError, match="model"):
        save_deep_compressed(str(tmp_path / "m"), model)
    assert not os.path.exists(tmp_path / "m")


def test_unpack_fixed_refuses_a_short_stream():
    with pytest.raises(ValueError, match="truncated"):
        unpack_fixed(np.array([0xFF], np.uint8), 3, 3)  # 9 bits asked of 8


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_deep_compressed(tmp_path / "nope.mdc")
