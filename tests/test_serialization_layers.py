"""Every layer that can be saved loads again, in a fresh process too (issue 17, item 10).

The fresh process imports only ``minidl`` (not ``minidl.compression``) and must rebuild every
registered layer class, QAT's included, from ``save`` and ``save_compressed`` files, giving
the same outputs bit for bit. The shape rules that let loaders check a file before building
(minidl/nn/state_spec.py) are held equal to the constructors on random configs.
"""

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
from minidl.compression.qat import FakeQuantize, FakeQuantWeight, prepare_qat
from minidl.compression.storage import load_compressed, save_compressed
from minidl.layers import (
    activations,
    batchnorm,
    conv,
    conv_transpose,
    dense,
    dropout,
    normalization,
    pool,
    reshape,
)
from minidl.layers.base import LAYERS
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.optim import SGD


def all_models():
    """Small trained-a-little models that together hold every built-in layer class."""
    a = activations
    flat = Sequential([
        reshape.Flatten(), dense.Dense(12, 8, rng=0), batchnorm.BatchNorm1D(8, momentum=None),
        a.ReLU(), dropout.Dropout(0.3, rng=1), a.LeakyReLU(0.2), FakeQuantize(),
        dense.Dense(8, 6, rng=2), a.Sigmoid(), a.Tanh(), a.Softmax(axis=1),
    ])  # fmt: skip
    img = Sequential([
        conv.Conv2D(1, 3, 3, padding="same", rng=3), batchnorm.BatchNorm2D(3),
        pool.MaxPool2D(2), pool.AvgPool2D(1), FakeQuantize(axis=1, averaging_constant=None),
        pool.GlobalAvgPool(), dense.Dense(3, 2, rng=4),
    ])  # fmt: skip
    seq = Sequential([
        conv.Conv1D(2, 4, 3, groups=2, rng=5), pool.MaxPool1D(2), pool.AvgPool1D(1),
        reshape.Flatten(), dense.Dense(12, 3, rng=6),
    ])  # fmt: skip
    video = Sequential([
        conv.Conv3D(1, 2, 2, rng=7), batchnorm.BatchNorm3D(2), pool.MaxPool3D(1),
        pool.AvgPool3D(1), conv.Conv2Plus1D(2, 2, (2, 2, 2), rng=8), reshape.Flatten(),
        dense.Dense(2 * 2 * 3 * 3, 2, rng=9),
    ])  # fmt: skip
    qat = prepare_qat(Sequential([
        conv.Conv2D(1, 2, 3, rng=10), batchnorm.BatchNorm2D(2), a.ReLU(), reshape.Flatten(),
        dense.Dense(2 * 4 * 4, 3, rng=11),
    ]))  # fmt: skip
    ct, norm = conv_transpose, normalization
    course = Sequential([
        ct.ConvTranspose2D(1, 2, 3, stride=2, padding=1, output_padding=1, rng=12),
        norm.GroupNorm(2, 2), a.ELU(0.5), norm.LayerNorm((6, 6)), a.GELU("tanh"),
        a.Softplus(2.0, 5.0), reshape.Flatten(), dense.Dense(2 * 36, 3, rng=14),
    ])  # fmt: skip
    course1d = Sequential([ct.ConvTranspose1D(2, 4, 3, groups=2, dilation=2, rng=13), a.GELU(),
                           reshape.Flatten(), dense.Dense(4 * 12, 2, rng=17)])  # fmt: skip
    course3d = Sequential([ct.ConvTranspose3D(1, 2, 2, bias=False, rng=15), a.GELU(),
                           reshape.Flatten(), dense.Dense(2 * 27, 2, rng=16)])  # fmt: skip
    shapes = [(4, 3, 4), (2, 1, 6, 6), (2, 2, 8), (2, 1, 4, 5, 5), (2, 1, 6, 6), (2, 1, 3, 3),
              (2, 2, 8), (2, 1, 2, 2, 2)]  # fmt: skip
    models = [flat, img, seq, video, qat, course, course1d, course3d]
    rng = np.random.default_rng(0)
    for m, shape in zip(models, shapes, strict=True):
        for _ in range(2):
            m(rng.normal(size=shape).astype(np.float32))  # moves statistics and observers
        m.eval()
    return list(zip(models, shapes, strict=True))


def minidl_layer_classes():
    """Names of every Layer class minidl defines (other tests register classes of their own)."""
    for info in pkgutil.walk_packages(minidl.__path__, "minidl."):
        if not info.name.startswith(("minidl.conformance.", "minidl.__main__")):
            importlib.import_module(info.name)
    return {name for name, cls in LAYERS.items() if cls.__module__.startswith("minidl.")}


def test_the_models_hold_every_registered_layer_class():
    used = {type(layer).__name__ for m, _ in all_models() for layer in m.layers}
    missing = minidl_layer_classes() - used
    assert not missing, f"add {sorted(missing)} to all_models()"


FRESH = textwrap.dedent(
    """
    import sys
    import numpy as np
    import minidl
    assert "minidl.compression" not in sys.modules
    model = minidl.Sequential.load(sys.argv[1])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], model.eval().predict(x))
    """
)


@pytest.mark.parametrize("how", ["save", "save_compressed"])
def test_every_model_loads_in_a_fresh_process(tmp_path, how):
    # before: a FakeQuantize model saved but did not load ("unexpected keys ['6.scale',
    # '6.zero_point']"), and prepare_qat's FakeQuantWeight was an "unknown class" in a
    # process that had not imported minidl.compression
    rng = np.random.default_rng(1)
    for i, (model, shape) in enumerate(all_models()):
        path, x, out = tmp_path / f"m{i}.npz", tmp_path / f"x{i}.npy", tmp_path / f"y{i}.npy"
        np.save(x, rng.normal(size=shape).astype(np.float32))
        if how == "save":
            model.save(path)
            code = FRESH
        else:
            save_compressed(model, path, sparse="auto", int8=False)
            code = FRESH.replace(
                "minidl.Sequential.load(",
                "__import__('minidl.compression.storage').compression.storage.load_compressed(",
            ).replace('assert "minidl.compression" not in sys.modules', "")
        done = subprocess.run(
            [sys.executable, "-c", code, str(path), str(x), str(out)], capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        np.testing.assert_array_equal(np.load(out), model.predict(np.load(x)))


def test_fake_quantize_model_round_trip_continues_training_identically(tmp_path, rng):
    model = Sequential([dense.Dense(5, 4, rng=0), FakeQuantize(), activations.ReLU(),
                        dense.Dense(4, 3, rng=1)])  # fmt: skip
    x, y = rng.normal(size=(8, 5)).astype(np.float32), rng.integers(0, 3, 8)
    model(x)
    model.save(tmp_path / "m.npz")
    loaded = Sequential.load(tmp_path / "m.npz")
    for m in (model, loaded):  # one more training step each, observer included
        crit = CrossEntropyLoss()
        crit(m(x * 3), y)  # a wider range: the moving average moves from the saved range
        m.backward(crit.backward())
        SGD(lr=0.1).step(m.params, m.grads)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)


def test_unknown_nested_layer_type_is_a_clear_error(tmp_path):
    # before: FakeQuantWeight({'type': 'Nope', ...}) raised a bare KeyError
    with pytest.raises(ValueError, match="layer type 'Nope' is unknown"):
        FakeQuantWeight({"type": "Nope", "config": {}})
    model = prepare_qat(Sequential([dense.Dense(3, 2, rng=0)]))
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__minidl_metadata__"]))
    meta["layers"][0]["config"]["layer"]["type"] = "Nope"
    arrays["__minidl_metadata__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad.npz.*wrapped layer type 'Nope'"):
        Sequential.load(tmp_path / "bad.npz")


def test_a_wrapped_batchnorm_keeps_its_statistics(tmp_path, rng):
    # prepare_qat wraps every layer with a weight, BatchNorm included; its running statistics
    # were not in the state, so they were neither saved nor loaded
    model = prepare_qat(Sequential([batchnorm.BatchNorm1D(3)]))
    model(rng.normal(size=(6, 3)).astype(np.float32) + 5)
    assert "0.running_mean" in model.state_dict()
    model.save(tmp_path / "m.npz")
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(Sequential.load(tmp_path / "m.npz").predict(x), model.predict(x))
    loaded = load_compressed_round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def load_compressed_round_trip(model, tmp_path):
    save_compressed(model, tmp_path / "c.npz", sparse=None, int8=False)
    return load_compressed(tmp_path / "c.npz")


# --- the shape rules of minidl/nn/state_spec.py equal the constructors ----------------------


def test_every_registered_class_has_a_rule():
    from minidl.nn.state_spec import DATA_SIZED, RULES, STATELESS

    assert minidl_layer_classes() == set(RULES) | STATELESS | DATA_SIZED


sizes = st.integers(1, 6)
common = dict(bias=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
CONFIGS = {
    "Dense": st.fixed_dictionaries(dict(in_features=sizes, out_features=sizes, **common)),
    "Conv2D": st.fixed_dictionaries(dict(
        in_channels=st.sampled_from([2, 4]), out_channels=st.sampled_from([2, 6]),
        kernel_size=st.one_of(sizes, st.lists(sizes, min_size=2, max_size=2)),
        groups=st.sampled_from([1, 2]), **common)),
    "Conv3D": st.fixed_dictionaries(dict(in_channels=sizes, out_channels=sizes,
                                         kernel_size=st.lists(sizes, min_size=3, max_size=3))),
    "Conv1D": st.fixed_dictionaries(dict(in_channels=sizes, out_channels=sizes, kernel_size=sizes)),
    "Conv2Plus1D": st.fixed_dictionaries(dict(
        in_channels=sizes, out_channels=sizes, kernel_size=st.lists(sizes, min_size=3, max_size=3),
        mid_channels=st.one_of(st.none(), sizes), **common)),
    "BatchNorm2D": st.fixed_dictionaries(dict(
        num_features=sizes, affine=st.booleans(), track_running_stats=st.booleans(),
        dtype=common["dtype"])),
    "ConvTranspose2D": st.fixed_dictionaries(dict(
        in_channels=st.sampled_from([2, 4]), out_channels=st.sampled_from([2, 6]),
        kernel_size=st.one_of(sizes, st.lists(sizes, min_size=2, max_size=2)),
        groups=st.sampled_from([1, 2]), **common)),
    "LayerNorm": st.fixed_dictionaries(dict(
        normalized_shape=st.one_of(sizes, st.lists(sizes, min_size=1, max_size=3)),
        elementwise_affine=st.booleans(), **common)),
    "GroupNorm": st.fixed_dictionaries(dict(
        num_groups=st.sampled_from([1, 2]), num_channels=st.sampled_from([2, 4, 6]),
        affine=st.booleans(), dtype=common["dtype"])),
}  # fmt: skip


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_rules_give_the_shapes_the_constructors_make(data):
    from minidl.nn.state_spec import layer_state, spec_of

    name = data.draw(st.sampled_from(sorted(CONFIGS)))
    config = data.draw(CONFIGS[name])
    try:
        layer = LAYERS[name](**config)
    except ValueError:  # e.g. Conv2Plus1D's (1.5) gives M = 0 for a 1x1x1 kernel, 1 -> 1
        assume(False)
    built = spec_of({**layer.params, **layer.buffers})
    assert layer_state({"class": name, "config": config}, {}) == built
    entry = {"class": name, "config": layer.get_config()}
    assert layer_state(entry, {}) == built
    if "weight" in layer.params:
        wrapped = FakeQuantWeight(layer)
        assert layer_state({"class": "FakeQuantWeight", "config": wrapped.get_config()}, {}) == (
            spec_of({**wrapped.params, **wrapped.buffers})
        )


def test_minidl_alone_does_not_import_compression():
    assert minidl.__name__ == "minidl"  # the fresh-process test relies on this import graph
    done = subprocess.run(
        [sys.executable, "-c", "import sys, minidl; print('minidl.compression' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "False"


def test_batch_count_is_saved_and_files_without_it_still_load(tmp_path):
    """BatchNorm's num_batches_tracked is saved since issue 17 (item 4); a file saved before,
    which has no such member, still loads (the count starts at 0, as the layer did then)."""
    import zipfile

    model = Sequential([dense.Dense(3, 3), batchnorm.BatchNorm1D(3, momentum=None)])
    for _ in range(4):
        model(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))
    model.save(tmp_path / "new.npz")
    assert Sequential.load(tmp_path / "new.npz").layers[1].num_batches_tracked == 4
    with zipfile.ZipFile(tmp_path / "new.npz") as src, \
            zipfile.ZipFile(tmp_path / "old.npz", "w") as dst:  # fmt: skip
        names = src.namelist()
        assert "1.num_batches_tracked.npy" in names
        for name in names:
            if name != "1.num_batches_tracked.npy":
                dst.writestr(name, src.read(name))
    old = Sequential.load(tmp_path / "old.npz")
    assert old.layers[1].num_batches_tracked == 0
    np.testing.assert_array_equal(old.layers[1].buffers["running_mean"],
                                  model.layers[1].buffers["running_mean"])  # fmt: skip
