"""Crafted ``save_compressed`` files (issue 17, items 6 and 7 and the messages): each refused
with a ValueError naming the file, never loaded as a wrong weight, never a bare KeyError.

Every bad file here is a real saved file with one edit: its metadata rewritten or a member
replaced, so each test changes one thing a loader must check.
"""

import json

import crafted_files as cf
import numpy as np
import pytest

from minidl.compression.pruning import apply_masks, model_masks
from minidl.compression.storage import load_compressed, save_compressed
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D
from minidl.layers.dense import Dense
from minidl.nn.model import Sequential

META = "__minidl_compressed__"


def saved(tmp_path, sparse="csr", int8=True):
    model = Sequential([Dense(6, 5, rng=0), BatchNorm1D(5), ReLU(), Dense(5, 3, rng=1)])
    apply_masks(model, model_masks(model, 0.5))
    path = tmp_path / "good.npz"
    save_compressed(model, path, sparse=sparse, int8=int8)
    return path


def edited(path, edit):
    """Copy of the file at ``path`` after ``edit(meta, arrays)`` (both mutable)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop(META).tobytes().decode("utf-8"))
    edit(meta, arrays)
    out = path.with_name("bad.npz")
    arrays[META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


def repeat_csr_index(meta, arrays):
    idx = arrays["0.weight/indices"].copy()
    idx[1] = idx[0]  # two values at one position: one silently overwrote the other
    arrays["0.weight/indices"] = idx


def float_csr_indices(meta, arrays):
    arrays["0.weight/indices"] = arrays["0.weight/indices"].astype(np.float32) + 0.5


def drop_scale(meta, arrays):
    meta["state"]["0.weight"]["parts"].remove("scale")
    del arrays["0.weight/scale"]  # int8 codes alone: loaded as if they were the weights


def index_past_columns(meta, arrays):
    arrays["0.weight/indices"] = arrays["0.weight/indices"] + 6


def bad_indptr(meta, arrays):
    arrays["0.weight/indptr"] = arrays["0.weight/indptr"][::-1].copy()


def code_minus_128(meta, arrays):
    vals = arrays["0.weight/values"].copy()
    vals[0] = -128
    arrays["0.weight/values"] = vals


CRAFTED_SPARSE = {  # before: each loaded silently, the first three with wrong weights
    "repeated CSR index": (repeat_csr_index, "repeat or fall within a row"),
    "float CSR indices": (float_csr_indices, "indices must be unsigned integers"),
    "int8 codes without their scale": (drop_scale, "values without a scale must be float32"),
    "CSR index past the columns": (index_past_columns, "is >= 6"),
    "indptr falling": (bad_indptr, "indptr must rise from 0"),
    "code -128 outside the narrow range": (code_minus_128, "[-127, 127]"),
}


@pytest.mark.parametrize("case", list(CRAFTED_SPARSE))
def test_crafted_sparse_weights_are_refused(tmp_path, case):
    edit, match = CRAFTED_SPARSE[case]
    bad = edited(saved(tmp_path), edit)
    with pytest.raises(ValueError, match="bad.npz") as info:
        load_compressed(bad)
    assert match in str(info.value)


def set_state(key, **info):
    return lambda meta, arrays: meta["state"][key].update(info)


CRAFTED_META = {  # before: the error each raised, if any
    "a part's member missing": (  # KeyError
        lambda m, a: a.pop("0.weight/indptr"), "missing keys ['0.weight/indptr']"),
    "a state entry not an object": (  # AttributeError
        lambda m, a: m["state"].update({"0.bias": 3}), "corrupt metadata for '0.bias'"),
    "unknown dtype": (  # TypeError: data type 'bogus' not understood
        set_state("0.bias", dtype="bogus"), "expected dtype float32, got bogus"),
    "unknown part": (set_state("0.weight", parts=["values", "bogus"]), "corrupt metadata"),
    "no state": (lambda m, a: m.pop("state"), "no 'state' object"),  # KeyError
    "shape of another layer": (  # IndexError / shape errors deep in decoding
        set_state("0.weight", shape=[9, 9]), "expected shape (5, 6), got (9, 9)"),
    "a layer entry not an object": (  # AttributeError
        lambda m, a: m["layers"].__setitem__(1, "BatchNorm1D"), "layer 1 metadata is corrupt"),
    "extra member": (lambda m, a: a.update(extra=np.zeros(3)), "unexpected keys ['extra']"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CRAFTED_META))
def test_crafted_metadata_is_a_value_error_naming_the_file(tmp_path, case):
    edit, match = CRAFTED_META[case]
    bad = edited(saved(tmp_path), edit)
    with pytest.raises(ValueError, match="bad.npz") as info:
        load_compressed(bad)
    assert match in str(info.value)


def test_metadata_not_an_object(tmp_path):
    with np.load(saved(tmp_path)) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[META] = np.frombuffer(b"[1, 2]", dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad.npz.*has format 'None'"):
        load_compressed(tmp_path / "bad.npz")


def test_a_single_npy_is_named(tmp_path):
    # before: "'NpyFile' object does not support the context manager protocol"-like errors
    path = tmp_path / "one.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=r"one.npy.*not an .npz \(zip\) archive: a single .npy"):
        load_compressed(path)


FEW_MB = 4 * 2**20


def test_extra_deflated_member_is_refused_unread(tmp_path):
    # before: the extra member was inflated (64 MiB here, 1 GB in the red team's file) and
    # the file then loaded as if nothing were wrong
    path = cf.extra_bomb_compressed(tmp_path / "c.npz", 64 * 2**20)
    error, peak = cf.peak_memory(lambda: load_compressed(path))
    assert isinstance(error, ValueError) and "unexpected keys ['extra']" in str(error)
    assert peak < FEW_MB, f"{peak / 2**20:.1f} MiB"


def test_config_larger_than_the_file_is_refused_before_building(tmp_path):
    # before: Dense(3000, 3000) was built (36 MB of random weights) before decoding failed
    path = saved(tmp_path, sparse=None, int8=False)
    bad = edited(path, lambda m, a: m["layers"][0]["config"].update(
        in_features=3000, out_features=3000))  # fmt: skip
    load_compressed(path)  # warm up
    error, peak = cf.peak_memory(lambda: load_compressed(bad))
    assert isinstance(error, ValueError) and "bad.npz" in str(error), repr(error)
    assert "'0.weight': expected shape (3000, 3000), got (5, 6)" in str(error)
    assert peak < FEW_MB, f"{peak / 2**20:.1f} MiB"


def test_json_nested_100000_deep(tmp_path):
    # before: RecursionError
    path = cf.deep_json_compressed(tmp_path / "c.npz")
    with pytest.raises(ValueError, match=r"c.npz.*JSON nested too deeply"):
        load_compressed(path)


def test_save_compressed_refuses_nan(tmp_path):
    model = Sequential([Dense(3, 2, rng=0)])
    model.params["0.bias"][0] = np.inf
    with pytest.raises(ValueError, match=r"load would refuse it: NaN or inf in \['0.bias'\]"):
        save_compressed(model, tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sparse", [None, "bitmask", "csr"])
@pytest.mark.parametrize("int8", [False, True])
def test_valid_files_of_every_encoding_still_load(tmp_path, sparse, int8):
    path = saved(tmp_path, sparse, int8)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    assert load_compressed(path).predict(x).shape == (4, 3)


# --- the Deep Compression format, which load_compressed also reads --------------------------


def deep_file(path, header, payload=b""):
    """A Deep Compression file built by hand: magic, header length, deflated JSON, payload."""
    import struct
    import zlib

    body = zlib.compress(header if isinstance(header, bytes) else json.dumps(header).encode())
    path.write_bytes(b"MDLDC\x00\x01\n" + struct.pack("<I", len(body)) + body + payload)
    return path


def small_deep_header(n_in=3, n_out=2):
    tensors = [
        {"key": "0.weight", "kind": "float32", "sections": [4 * n_in * n_out],
         "shape": [n_out, n_in], "dtype": "float32", "coding": "huffman"},
        {"key": "0.bias", "kind": "float32", "sections": [4 * n_out], "shape": [n_out],
         "dtype": "float32", "coding": "huffman"},
    ]  # fmt: skip
    layers = [cf.dense_layer(n_in, n_out)]
    return {"format": "minidl.deep_compression", "version": 1, "layers": layers, "tensors": tensors}


def test_deep_compression_config_larger_than_its_tensors(tmp_path):
    # before: Dense(3000, 3000) was built (36 MB of random weights) before the tensors were read
    header = small_deep_header()
    header["layers"][0]["config"].update(in_features=3000, out_features=3000)
    path = deep_file(tmp_path / "d.mdc", header, bytes(32))
    load_compressed(deep_file(tmp_path / "ok.mdc", small_deep_header(), bytes(32)))  # warm up
    error, peak = cf.peak_memory(lambda: load_compressed(path))
    assert isinstance(error, ValueError) and "d.mdc" in str(error), repr(error)
    assert "'0.weight': expected shape (3000, 3000), got (2, 3)" in str(error)
    assert peak < FEW_MB, f"{peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "header, match",
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),  # before: RecursionError
        (bytes(64 * 2**20), "does not inflate to a whole JSON text"),  # before: 64 MiB inflated
        ({"format": "minidl.deep_compression", "version": 1, "layers": ["Dense"],
          "tensors": []}, "layer 0 metadata is corrupt"),  # before: AttributeError
        ({**small_deep_header(), "tensors": [{"key": "0.weight"}]}, "list of tensors is corrupt"),
    ],
)  # fmt: skip
def test_deep_compression_bad_headers(tmp_path, header, match):
    path = deep_file(tmp_path / "d.mdc", header)
    error, peak = cf.peak_memory(lambda: load_compressed(path))
    assert isinstance(error, ValueError) and "d.mdc" in str(error), repr(error)
    assert match in str(error)
    assert peak < FEW_MB, f"{peak / 2**20:.1f} MiB"


def test_deep_compression_refuses_nan_at_save(tmp_path):
    model = Sequential([Dense(3, 2, rng=0)])
    model.params["0.weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match="load would refuse it: NaN or inf"):
        save_compressed(model, tmp_path / "d.mdc", format="deep_compression")
    assert list(tmp_path.iterdir()) == []
