"""Crafted model files (issue 17): a clear ValueError naming the file, before anything big.

Each crafted file claims more than it holds: a config of Dense(3000, 3000) over a 2x3 layer's
arrays, a member header claiming 10^12 values, an extra member of zeros deflated 1000:1, JSON
nested 100,000 deep. The loaders must refuse each with a ``ValueError`` that names the file,
after allocating at most a few MB (tracemalloc sees NumPy's arrays and Python's objects; a
Dense(3000, 3000) costs 36 MB of weights alone). ``benchmarks/bench_bad_files.py`` measures the
red-team sizes (Dense(20000, 20000), 1 GB bombs) in fresh processes.
"""

import crafted_files as cf
import numpy as np
import pytest

from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D
from minidl.layers.dense import Dense
from minidl.nn.model import Sequential

FEW_MB = 4 * 2**20  # bar for a refused crafted file: a few MB (the files' arrays are bytes)
LOADERS = {
    "load": Sequential.load,
    "load_weights": lambda path: Sequential([Dense(3, 2)]).load_weights(path),
}


def refused_cheaply(load, path, match):
    """Assert ``load(path)`` raises ValueError naming ``path`` (and ``match``) within FEW_MB."""
    load(
        cf.model_file(
            path.with_name("warm.npz"),
            cf.dense_meta([cf.dense_layer(3, 2)], ["0.weight", "0.bias"]),
            cf.small_dense_arrays(),
        )
    )  # warm caches
    error, peak = cf.peak_memory(lambda: load(path))
    assert isinstance(error, ValueError), repr(error)
    assert str(path) in str(error) and match in str(error), str(error)
    assert peak < FEW_MB, f"{peak / 2**20:.1f} MiB allocated before refusing"


def test_config_larger_than_its_arrays_is_refused_before_building(tmp_path):
    # before: the Dense(3000, 3000) layer was built (random weights, 36 MB + temporaries) and
    # only load_state_dict found the arrays missing; Dense(20000, 20000) took 13 s and 4.7 GB
    path = cf.huge_config_model(tmp_path / "m.npz", 3000)
    refused_cheaply(Sequential.load, path, "'0.weight': expected shape (3000, 3000), got (2, 3)")


def test_impossible_config_is_a_value_error_not_memory_error(tmp_path):
    # before: numpy's MemoryError (7.28 TiB) escaped
    path = cf.huge_config_model(tmp_path / "m.npz", 10**6)
    refused_cheaply(Sequential.load, path, "expected shape (1000000, 1000000)")


@pytest.mark.parametrize("how", list(LOADERS))
def test_member_header_claiming_more_than_the_file_holds(tmp_path, how):
    # before: a header claiming (10**12,) float32 over 24 bytes raised MemoryError (3.64 TiB)
    path = cf.huge_header_model(tmp_path / "m.npz")
    refused_cheaply(LOADERS[how], path, "says shape (1000000000000,)")


@pytest.mark.parametrize("how", list(LOADERS))
def test_an_extra_member_is_refused_unread(tmp_path, how):
    # before: np.load inflated every member: 64 MiB of zeros (1 GB in the red team's file)
    path = cf.extra_bomb_model(tmp_path / "m.npz", 64 * 2**20)
    refused_cheaply(LOADERS[how], path, "unexpected keys ['extra']")


@pytest.mark.parametrize("how", list(LOADERS))
def test_deflated_member_cannot_claim_more_than_deflate_gives(tmp_path, how):
    arrays = cf.small_dense_arrays()
    arrays["0.weight"] = cf.npy_bytes(shape=(2, 3), descr="<f4", payload=bytes(24))
    path = cf.model_file(
        tmp_path / "m.npz",
        cf.dense_meta([cf.dense_layer(3, 2)], ["0.weight", "0.bias"]),
        arrays,
        deflated={"0.weight.npy"},
    )
    data = bytearray(path.read_bytes())
    # the central directory's uncompressed size of 0.weight.npy, raised to 2^31 - 1
    at = data.rfind(b"0.weight.npy") - 46 + 24
    data[at : at + 4] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    refused_cheaply(LOADERS[how], path, "truncated or corrupt")


@pytest.mark.parametrize("how", list(LOADERS))
def test_json_nested_100000_deep(tmp_path, how):
    # before: RecursionError from json.loads
    path = cf.deep_json_model(tmp_path / "m.npz")
    refused_cheaply(LOADERS[how], path, "JSON nested too deeply")


@pytest.mark.parametrize(
    "layers, match",
    [
        (["not a dict"], "layer 0 metadata is corrupt"),  # before: AttributeError
        ([{"class": "Dense"}], "layer 0 metadata is corrupt"),
        ([{"class": 3, "config": {}}], "layer 0 metadata is corrupt"),
        ([{"class": "Dense", "config": {"in_features": 3}}], "has no 'out_features'"),
        ([{"class": "Dense", "config": {**cf.dense_layer(3, 2)["config"], "dtype": "bogus"}}],
         "data type 'bogus' not understood"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("how", list(LOADERS))
def test_corrupt_layer_entries_name_the_file(tmp_path, layers, match, how):
    path = cf.model_file(
        tmp_path / "m.npz", cf.dense_meta(layers, ["0.weight", "0.bias"]), cf.small_dense_arrays()
    )
    with pytest.raises(ValueError, match="m.npz") as info:
        LOADERS[how](path)
    if how == "load" or "corrupt" in match:
        assert match in str(info.value)


def test_a_folder_is_named_as_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a file"):
        Sequential.load(tmp_path)


# --- save refuses what load would refuse ----------------------------------------------------


def test_save_refuses_nan_and_keeps_the_old_file(tmp_path, rng):
    # before: a NaN in the running statistics (fit on data with a NaN) was saved, and load
    # refused the file ("contains NaN or inf")
    model = Sequential([Dense(3, 4, rng=0), BatchNorm1D(4), ReLU()])
    path = tmp_path / "m.npz"
    model.save(path)
    old = path.read_bytes()
    model.layers[1].buffers["running_mean"][2] = np.nan
    with pytest.raises(
        ValueError, match=r"load would refuse it: NaN or inf in \['1.running_mean'\]"
    ):
        model.save(path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_refuses_a_state_its_config_cannot_rebuild(tmp_path):
    # before: the file was written, and load failed on '0.weight': expected shape (4, 3)
    model = Sequential([Dense(3, 4, rng=0)])
    model.layers[0].params["weight"] = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"'0.weight': expected shape \(4, 3\), got \(4, 5\)"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []
