"""Model files: round trips, atomic writes, and every corrupt-file case leaving the model as is."""

import json
import os
import zipfile

import numpy as np
import pytest

import minidl
from minidl.layers.activations import ReLU
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential
from minidl.nn.serialization import META_KEY, read_model_file


def net(dtype=np.float32, seed=0, hidden=5):
    rng = np.random.default_rng(seed)
    dense = lambda i, o: Dense(i, o, dtype=dtype, rng=rng)
    return Sequential([Flatten(), dense(6, hidden), ReLU(), dense(hidden, 3)])


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
        assert after[k].dtype == v.dtype


def rewrite(src, dst, edit_arrays=None, edit_meta=None):
    """Copy a model file, editing its arrays and/or metadata (to build bad files)."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop(META_KEY)))
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    np.savez(dst, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
    return dst


@pytest.fixture
def saved(tmp_path):
    model = net(seed=1)
    path = tmp_path / "model.npz"
    model.save(path)
    return model, path


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_rebuilds_same_model(tmp_path, rng, dtype):
    model = net(dtype, seed=1)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = Sequential.load(path)
    assert [type(a) for a in loaded] == [type(b) for b in model]
    assert_unchanged(loaded, snapshot(model))
    x = rng.normal(size=(4, 2, 3)).astype(dtype)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.params["1.weight"].dtype == dtype


def test_load_weights_into_existing_model(saved):
    model, path = saved
    other = net(seed=2)
    arrays = other.state_dict()
    other.load_weights(path)
    assert_unchanged(other, snapshot(model))
    assert other.state_dict()["1.weight"] is arrays["1.weight"]  # copied in place


def test_file_layout_is_plain_npz_with_json_metadata(saved):
    _, path = saved
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == {META_KEY, "1.weight", "1.bias", "3.weight", "3.bias"}
        meta = json.loads(str(f[META_KEY]))
    assert meta["minidl_version"] == minidl.__version__
    assert [entry["class"] for entry in meta["layers"]] == ["Flatten", "Dense", "ReLU", "Dense"]
    assert meta["layers"][1]["config"]["in_features"] == 6


def test_loading_does_not_advance_the_package_generator(saved):
    _, path = saved
    minidl.seed(5)
    Sequential.load(path)
    after_load = minidl.get_rng().random()
    minidl.seed(5)
    assert minidl.get_rng().random() == after_load


def test_save_is_atomic_and_leaves_no_temporary_files(saved, monkeypatch):
    model, path = saved
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        net(seed=3).save(path)
    assert path.read_bytes() == original  # the old file survives a failed write
    assert os.listdir(path.parent) == [path.name]


def test_save_overwrites_and_writes_exact_path(tmp_path):
    path = tmp_path / "weights.bin"
    net(seed=1).save(path)
    net(seed=2).save(path)
    assert sorted(os.listdir(tmp_path)) == ["weights.bin"]
    assert_unchanged(Sequential.load(path), snapshot(net(seed=2)))


# --- corrupt and mismatched files: a clear error, the model unchanged -----------------------


def corrupt_cases(path, tmp_path):
    data = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("1.weight.npy")
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128

    def write(name, blob):
        p = tmp_path / name
        p.write_bytes(blob)
        return p

    flipped = bytearray(data)
    flipped[data_start + 8] ^= 0xFF  # inside 1.weight's values: the zip CRC must catch it
    header = bytearray(data)
    header[2] ^= 0xFF  # the zip signature itself
    return {
        "truncated": (write("t.npz", data[: len(data) // 2]), "truncated or corrupt"),
        "empty": (write("e.npz", b""), "truncated or corrupt"),
        "flipped data byte": (write("f.npz", bytes(flipped)), "truncated or corrupt"),
        "flipped header byte": (write("h.npz", bytes(header)), "truncated or corrupt"),
        "random bytes": (write("r.npz", os.urandom(300)), "truncated or corrupt"),
    }


@pytest.mark.parametrize(
    "case", ["truncated", "empty", "flipped data byte", "flipped header byte", "random bytes"]
)
@pytest.mark.parametrize("how", ["load", "load_weights"])
def test_corrupt_files_raise_and_change_nothing(saved, tmp_path, case, how):
    model, path = saved
    bad, match = corrupt_cases(path, tmp_path)[case]
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        Sequential.load(bad) if how == "load" else model.load_weights(bad)
    assert_unchanged(model, before)


def _drop(key):
    return lambda arrays: arrays.pop(key)


BAD_FILES = {
    "missing key": (dict(edit_arrays=_drop("3.bias")), r"missing keys \['3.bias'\]"),
    "extra key": (
        dict(edit_arrays=lambda a: a.update({"4.weight": np.zeros(2, np.float32)})),
        r"unexpected keys \['4.weight'\]",
    ),
    "wrong dtype": (
        dict(edit_arrays=lambda a: a.update({"1.bias": a["1.bias"].astype(np.float64)})),
        r"'1.bias': expected dtype float32, got float64",
    ),
    "wrong shape": (
        dict(edit_arrays=lambda a: a.update({"3.weight": a["3.weight"][:, :4]})),
        r"'3.weight': expected shape \(3, 5\), got \(3, 4\)",
    ),
    "no metadata": (None, "not a minidl model file"),
    "bad json": (None, "corrupt metadata"),
    "other format": (dict(edit_meta=lambda m: m.update(format="keras")), "has format 'keras'"),
    "future version": (dict(edit_meta=lambda m: m.update(format_version=99)), "format_version"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
@pytest.mark.parametrize("how", ["load", "load_weights"])
def test_bad_files_raise_and_change_nothing(saved, tmp_path, case, how):
    model, path = saved
    edits, match = BAD_FILES[case]
    bad = tmp_path / "bad.npz"
    if case == "no metadata":
        np.savez(bad, **{"1.weight": np.zeros((5, 6), np.float32)})
    elif case == "bad json":
        np.savez(bad, **{META_KEY: np.array("{not json")})
    else:
        rewrite(path, bad, **edits)
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        Sequential.load(bad) if how == "load" else model.load_weights(bad)
    assert_unchanged(model, before)


def test_other_architecture_is_refused_by_load_weights(saved, tmp_path):
    model, _ = saved
    other = tmp_path / "other.npz"
    net(hidden=7).save(other)
    before = snapshot(model)
    with pytest.raises(ValueError, match="another architecture: layer 1 is Dense.*out_features=7"):
        model.load_weights(other)
    Sequential([Dense(6, 3)]).save(other)
    with pytest.raises(ValueError, match="holds 1 layers, the model has 4"):
        model.load_weights(other)
    assert_unchanged(model, before)


def test_unknown_layer_class_and_bad_config(saved, tmp_path):
    _, path = saved
    bad = rewrite(
        path, tmp_path / "u.npz", edit_meta=lambda m: m["layers"][0].update({"class": "Nope"})
    )
    with pytest.raises(ValueError, match="layer 0 has unknown class 'Nope'"):
        Sequential.load(bad)
    bad = rewrite(
        path, tmp_path / "c.npz", edit_meta=lambda m: m["layers"][1]["config"].update(bogus=1)
    )
    with pytest.raises(ValueError, match="cannot rebuild layer 1 Dense"):
        Sequential.load(bad)


def test_pickled_object_arrays_are_refused(saved, tmp_path):
    _, path = saved
    bad = rewrite(
        path, tmp_path / "p.npz", edit_arrays=lambda a: a.update({"1.bias": np.array([{}, None])})
    )
    with pytest.raises(ValueError, match="allow_pickle"):
        read_model_file(bad)


def test_single_npy_and_missing_file(tmp_path):
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(
        ValueError, match=r"truncated or corrupt: not an .npz \(zip\) archive: a single .npy"
    ):
        Sequential.load(npy)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Sequential.load(tmp_path / "nothing.npz")


# --- the convolutional layers ----------------------------------------------------------------


def test_round_trip_cnn_with_buffers_and_composite_layers(tmp_path, rng):
    from minidl.layers.batchnorm import BatchNorm2D, BatchNorm3D
    from minidl.layers.conv import Conv2D, Conv2Plus1D
    from minidl.layers.dropout import Dropout
    from minidl.layers.pool import MaxPool2D

    model2d = Sequential([
        Conv2D(1, 3, 3, padding="same"), BatchNorm2D(3, momentum=0.3), ReLU(), MaxPool2D(2),
        Flatten(), Dropout(0.2), Dense(18, 2),
    ])  # fmt: skip
    model3d = Sequential(
        [Conv2Plus1D(1, 2, (2, 3, 3), mid_channels=3), BatchNorm3D(2), Flatten(), Dense(16, 2)]
    )
    for model, shape in [(model2d, (5, 1, 4, 6)), (model3d, (4, 1, 3, 4, 4))]:
        model(rng.normal(size=shape).astype(np.float32))  # moves the running statistics
        path = tmp_path / "cnn.npz"
        model.save(path)
        loaded = Sequential.load(path)
        assert_unchanged(loaded, snapshot(model))
        assert [layer.get_config() for layer in loaded] == [layer.get_config() for layer in model]
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert "0.spatial.weight" in model3d.state_dict() and "1.running_var" in model3d.state_dict()


def test_saved_file_has_the_usual_permissions(saved):
    _, path = saved
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_metadata_without_layers_is_corrupt(saved, tmp_path):
    _, path = saved
    bad = rewrite(path, tmp_path / "n.npz", edit_meta=lambda m: m.update(layers=[]))
    with pytest.raises(ValueError, match="no list of layers"):
        Sequential.load(bad)
