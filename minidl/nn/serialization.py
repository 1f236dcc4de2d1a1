"""Model files: a NumPy ``.npz`` holding the state arrays and one JSON string of metadata.

Layout of a file written by :func:`save_model`::

    __minidl_metadata__   0-d unicode array: JSON {"format", "format_version",
                          "minidl_version", "layers": [{"class", "config"}, ...], "keys"}
    0.weight, 0.bias, 1.running_mean, ...   the arrays of ``model.state_dict()``

Nothing is pickled: members are read with ``allow_pickle=False``, so opening an untrusted file
cannot run code. Writing goes through :func:`minidl.atomic.atomic_write` (a temporary file in
the same folder, renamed over the target), so a crash never leaves half a file; and ``save``
first checks what loading will check (every class rebuildable by name, the state's shapes and
dtypes those its configs give, every value finite), so it never writes a file ``load`` refuses.

Reading checks everything before touching a model, cheapest first: the zip directory and the
metadata (:class:`minidl.archive.NpzArchive`, :func:`minidl.archive.parse_json`), then the
shapes the layers' configs imply (:mod:`minidl.nn.state_spec`) against the arrays' headers and
the file's size, then only the expected members, CRC-checked, then the model's own
``load_state_dict`` checks. A truncated or corrupt file, another architecture, a missing or
extra key, a wrong shape or dtype, NaN, or a config claiming more than the file holds each
raise a ``ValueError`` naming the file and the problem, and the model is left as it was.
"""

import importlib
import json
import os
import pkgutil

import numpy as np

from minidl._version import __version__
from minidl.archive import NpzArchive, parse_json
from minidl.atomic import atomic_write
from minidl.layers.base import LAYERS
from minidl.nn.state_spec import DATA_SIZED, OPTIONAL_KEYS, layer_state, spec_of

FORMAT = "minidl.Sequential"
FORMAT_VERSION = 1
META_KEY = "__minidl_metadata__"
# Every module defining a Layer subclass lives in these packages; a loader imports them all
# before it looks a class up, so a file loads in a fresh process whatever was imported.
LAYER_PACKAGES = ("minidl.layers", "minidl.compression")


def architecture(model):
    """``[{"class": name, "config": get_config()}, ...]`` normalized through JSON."""
    arch = []
    for i, layer in enumerate(model.layers):
        name = type(layer).__name__
        if LAYERS.get(name) is not type(layer):
            raise TypeError(
                f"layer {i} ({name}) is not the Layer class registered as {name!r}, so a "
                "loader could not rebuild it"
            )
        try:
            arch.append(json.loads(json.dumps({"class": name, "config": layer.get_config()})))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"layer {i} ({name}).get_config() is not JSON-serializable: {err}"
            ) from None
    return arch


def check_state(entries, state, where):
    """Raise ``ValueError`` unless ``state`` is what a loader of ``entries`` accepts.

    The state's names, shapes and dtypes must be those the configs give (by
    :func:`minidl.nn.state_spec.layer_state`) and every value finite. ``where`` starts the message.
    """
    found = spec_of(state)
    expected, _ = expected_state(entries, found, where)
    problems = compare_specs(expected, found)
    bad = [k for k, v in state.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
    if bad:
        problems.append(f"NaN or inf in {bad}")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def save_model(model, path):
    """Write ``model``'s architecture and ``state_dict()`` to ``path`` atomically.

    The file is written exactly at ``path`` (no ``.npz`` is appended). Raises ``ValueError``
    (and writes nothing) when loading would refuse the file: NaN or inf in the state, say.
    """
    path = os.fspath(path)
    state = model.state_dict()
    layers = architecture(model)
    check_state(layers, state, f"cannot save {path!r}, load would refuse it")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "minidl_version": __version__,
        "layers": layers,
        "keys": list(state),
    }
    arrays = {META_KEY: np.array(json.dumps(meta))}
    arrays.update({k: np.asarray(v, order="C") for k, v in state.items()})  # 0-d stays 0-d
    atomic_write(path, lambda f: np.savez(f, **arrays))


# --- reading ---------------------------------------------------------------------------------


def open_model_file(path):
    """``(archive, metadata)``: the open :class:`NpzArchive` and its checked metadata."""
    archive = NpzArchive(path, "model file")
    try:
        if META_KEY not in archive:
            raise archive.invalid(f"no {META_KEY!r} member: not a minidl model file")
        text = archive.read_text(META_KEY)
        meta = parse_json(text, f"model file {archive.path!r} has corrupt metadata")
        check_metadata(meta, archive)
    except BaseException:
        archive.close()
        raise
    return archive, meta


def check_metadata(meta, archive):
    """Format, version and a list of ``{"class": str, "config": dict}`` entries, or raise."""
    if not isinstance(meta, dict):
        raise archive.invalid("has corrupt metadata: not a JSON object")
    if meta.get("format") != FORMAT:
        raise archive.invalid(f"has format {str(meta.get('format'))[:50]!r}, not {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise archive.invalid(
            f"has format_version {str(meta.get('format_version'))[:20]}; this minidl reads "
            f"version {FORMAT_VERSION}"
        )
    check_layer_entries(meta.get("layers"), archive.invalid)


def check_layer_entries(entries, error):
    """Each entry ``{"class": str, "config": dict}``; else ``raise error(message)``."""
    if not isinstance(entries, list) or not entries:
        raise error("has corrupt metadata: no list of layers")
    for i, entry in enumerate(entries):
        ok = isinstance(entry, dict) and isinstance(entry.get("class"), str)
        if not ok or not isinstance(entry.get("config"), dict):
            raise error(f"layer {i} metadata is corrupt: {str(entry)[:200]}")


def read_model_file(path):
    """``(metadata dict, {key: array})`` of every member of a model file, each checked."""
    archive, meta = open_model_file(path)
    with archive:
        return meta, {k: archive.read(k) for k in archive.keys() if k != META_KEY}


def load_weights(model, path):
    """Load the state in ``path`` into ``model``, whose architecture must match the file's."""
    archive, meta = open_model_file(path)
    where = f"model file {archive.path!r}"
    with archive:
        ours, theirs = architecture(model), meta["layers"]
        if len(ours) != len(theirs):
            raise archive.invalid(f"holds {len(theirs)} layers, the model has {len(ours)}")
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b:
                raise archive.invalid(
                    f"is another architecture: layer {i} is {describe(b)} in the file, "
                    f"{describe(a)} in the model"
                )
        expected, _ = expected_state(theirs, data_sized_headers(archive, theirs), where)
        arrays = read_expected(archive, expected)
    restore_state(model, arrays, where)


def load_model(path, container):
    """Rebuild the model saved in ``path`` as ``container(layers)`` and load its state.

    ``container`` is the model class (``Sequential.load`` passes itself), so the file format
    depends on the layers alone and the model depends on the file format, not both ways.
    """
    archive, meta = open_model_file(path)
    where = f"model file {archive.path!r}"
    with archive:
        entries = meta["layers"]
        expected, built = expected_state(entries, data_sized_headers(archive, entries), where)
        arrays = read_expected(archive, expected)
    model = container(build_layers(entries, where, built))
    restore_state(model, arrays, where)
    return model


def data_sized_headers(archive, entries):
    """``{key: (shape, dtype)}`` of the members owned by ``DATA_SIZED`` layers (at most a few:
    their rule refuses more)."""
    owners = {f"{i}." for i, e in enumerate(entries) if e["class"] in DATA_SIZED}
    keys = [k for k in archive.keys() if k[: k.find(".") + 1] in owners][:16]
    return {k: (archive.header(k)[0], archive.header(k)[1].name) for k in keys}


def read_expected(archive, expected):
    """The arrays of ``expected``'s keys, once the member names and headers match it (a
    missing or extra member or a different header raises before any data is read)."""
    names = {k: None for k in archive.keys() if k != META_KEY}
    expected = {k: v for k, v in expected.items() if k in names or not k.endswith(OPTIONAL_KEYS)}
    problems = compare_specs(expected, {k: expected.get(k) for k in names})
    if not problems:
        found = {k: (archive.header(k)[0], archive.header(k)[1].name) for k in expected}
        problems = compare_specs(expected, found)
    if problems:
        raise archive.invalid("; ".join(problems))
    return {k: archive.read(k) for k in expected}


# --- what a file must hold, and building the layers ------------------------------------------


def expected_state(entries, found, where):
    """``({key: (shape, dtype)}, {index: layer})``: the state ``entries`` imply, and the layers
    that had to be built to know it (classes without a rule in :mod:`minidl.nn.state_spec`).

    ``found`` (a file's or a model's spec) sizes the data-sized layers. Raises ``ValueError``
    starting with ``where`` and naming the layer.
    """
    expected, built = {}, {}
    for i, entry in enumerate(entries):
        prefix = f"{i}."
        mine = {k[len(prefix) :]: v for k, v in found.items() if k.startswith(prefix)}
        try:
            spec = layer_state(entry, mine)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: layer {i} {describe(entry)}: {err}") from None
        if spec is None:  # a class of the user's: its constructor is the only rule
            built[i] = build_layers([entry], where, first_index=i)[0]
            spec = spec_of({**built[i].params, **built[i].buffers})
        expected.update({prefix + k: v for k, v in spec.items()})
    return expected, built


def compare_specs(expected, found):
    """What differs, as load_state_dict words it: missing/unexpected keys, shapes, dtypes."""
    missing = [k for k in expected if k not in found and not k.endswith(OPTIONAL_KEYS)]
    unexpected = [k for k in found if k not in expected]
    problems = [f"missing keys {missing[:20]}"] if missing else []
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:20]}")
    for k in expected:
        if k not in found or found[k] == expected[k]:
            continue
        (shape, dtype), (got_shape, got_dtype) = expected[k], found[k]
        if shape != got_shape:
            problems.append(f"{k!r}: expected shape {shape}, got {got_shape}")
        else:
            problems.append(f"{k!r}: expected dtype {dtype}, got {got_dtype}")
    return problems


def build_layers(entries, where, built=None, first_index=0):
    """The layers ``entries`` describe (``built[i]`` where given). ``Layer.from_config``
    allocates their arrays without drawing initial weights (the file's replace them), so
    loading a model does not shift any generator's stream."""
    built = built or {}
    layers = []
    for i, entry in enumerate(entries, start=first_index):
        if i in built:
            layers.append(built[i])
            continue
        if entry["class"] not in LAYERS:
            import_layer_modules()  # a class registers itself when its module is imported
        cls = LAYERS.get(entry["class"])
        if cls is None:
            raise ValueError(
                f"{where}: layer {i} has unknown class {entry['class'][:100]!r}; known: "
                f"{sorted(LAYERS)} (a Layer class of your own: import it before loading)"
            )
        try:
            layers.append(cls.from_config(entry["config"]))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{where}: cannot rebuild layer {i} {describe(entry)}: {err}"
            ) from None
    return layers


def restore_state(model, arrays, where):
    """Load ``arrays`` (already checked against the file's expected spec) into ``model``, all
    checks first: nothing changes unless everything fits. A data-sized layer (one with
    ``allocate_state``) first gets buffers of the shapes the file gives it."""
    bad = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
    if bad:
        raise ValueError(f"{where}: NaN or inf in {bad[:20]}")
    own, planned = spec_of(model.state_dict()), {}
    for i, layer in enumerate(model.layers):
        if hasattr(layer, "allocate_state"):
            prefix = f"{i}."
            planned[i] = {
                k[len(prefix) :]: v for k, v in spec_of(arrays).items() if k.startswith(prefix)
            }
            own = {k: v for k, v in own.items() if not k.startswith(prefix)}
            own.update({prefix + k: v for k, v in planned[i].items()})
    problems = compare_specs(own, spec_of(arrays))
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    for i, spec in planned.items():
        if spec != spec_of(model.layers[i].buffers):
            model.layers[i].allocate_state(spec)
    model.load_state_dict(arrays)


def import_layer_modules():
    """Import every module of ``LAYER_PACKAGES`` so that ``LAYERS`` knows every class."""
    for package in LAYER_PACKAGES:
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{info.name}")


def describe(entry):
    config = entry.get("config", {})
    args = ", ".join(f"{k}={v!r}" for k, v in config.items()) if isinstance(config, dict) else ""
    text = f"{entry.get('class')}({args})"
    return text if len(text) <= 200 else text[:197] + "..."
