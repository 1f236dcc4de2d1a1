"""Model files: a NumPy ``.npz`` holding the state arrays and one JSON string of metadata.

Layout of a file written by :func:`save_model`::

    __minidl_metadata__   0-d unicode array: JSON {"format", "format_version",
                          "minidl_version", "layers": [{"class", "config"}, ...], "keys"}
    0.weight, 0.bias, 1.running_mean, ...   the arrays of ``model.state_dict()``

Nothing is pickled: files are read with ``numpy.load(..., allow_pickle=False)``, so opening
an untrusted file cannot run code. Writing goes to a temporary file in the same directory
which is then renamed over the target (``os.replace`` is atomic), so a crash mid-write never
leaves half a file. Reading checks everything before touching the model: a truncated or
corrupt file (zip CRC, header), a file of another architecture, a missing or extra key, a
wrong shape or dtype each raise a ``ValueError`` that names the problem, and the model is
left as it was.
"""

import importlib
import json
import os
import pkgutil
import tempfile
import zipfile
import zlib

import numpy as np

FORMAT = "minidl.Sequential"
FORMAT_VERSION = 1
META_KEY = "__minidl_metadata__"


def _architecture(model):
    """``[{"class": name, "config": get_config()}, ...]`` normalized through JSON."""
    arch = []
    for i, layer in enumerate(model.layers):
        entry = {"class": type(layer).__name__, "config": layer.get_config()}
        try:
            arch.append(json.loads(json.dumps(entry)))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"layer {i} ({type(layer).__name__}).get_config() is not JSON-serializable: {err}"
            ) from None
    return arch


def save_model(model, path):
    """Write ``model``'s architecture and ``state_dict()`` to ``path`` atomically.

    The file is written exactly at ``path`` (no ``.npz`` is appended).
    """
    import minidl

    path = os.fspath(path)
    state = model.state_dict()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "minidl_version": minidl.__version__,
        "layers": _architecture(model),
        "keys": list(state),
    }
    arrays = {META_KEY: np.array(json.dumps(meta))}
    arrays.update({k: np.ascontiguousarray(v) for k, v in state.items()})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return mask


def read_model_file(path):
    """Return ``(metadata dict, {key: array})`` from a model file, or raise a clear error.

    Every array is read here, which makes the zip layer verify each member's CRC-32: a flipped
    byte anywhere in the data is caught now, not after half the model has been overwritten.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    try:
        # checked first: numpy.load would try anything else as a pickle and blame allow_pickle
        if magic != b"PK\x03\x04":
            kind = "a single .npy array" if magic == b"\x93NUM" else f"starts with {magic!r}"
            raise ValueError(f"not an .npz (zip) archive: {kind}")
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"model file {path!r} is truncated or corrupt: {err}") from None
    if META_KEY not in arrays:
        raise ValueError(f"model file {path!r} has no {META_KEY!r}: not a minidl model file")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        if not isinstance(meta, dict):
            raise ValueError("metadata is not a JSON object")
    except ValueError as err:
        raise ValueError(f"model file {path!r} has corrupt metadata: {err}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"model file {path!r} has format {meta.get('format')!r}, not {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"model file {path!r} has format_version {meta.get('format_version')!r}; this "
            f"minidl reads version {FORMAT_VERSION}"
        )
    if not isinstance(meta.get("layers"), list) or not meta["layers"]:
        raise ValueError(f"model file {path!r} has corrupt metadata: no list of layers")
    return meta, arrays


def load_weights(model, path):
    """Load the state in ``path`` into ``model``, whose architecture must match the file's."""
    meta, arrays = read_model_file(path)
    ours = _architecture(model)
    theirs = meta["layers"]
    if len(ours) != len(theirs):
        raise ValueError(
            f"model file {os.fspath(path)!r} holds {len(theirs)} layers, the model has {len(ours)}"
        )
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            raise ValueError(
                f"model file {os.fspath(path)!r} is another architecture: layer {i} is "
                f"{_describe(b)} in the file, {_describe(a)} in the model"
            )
    model.load_state_dict(arrays)


def load_model(path):
    """Rebuild the :class:`~minidl.model.Sequential` saved in ``path`` and load its state."""
    from minidl.model import Sequential

    meta, arrays = read_model_file(path)
    model = Sequential(_build_layers(meta, path))
    model.load_state_dict(arrays)
    return model


def _build_layers(meta, path):
    from minidl.layers.base import LAYERS

    layers = []
    for i, entry in enumerate(meta["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ValueError(f"model file {os.fspath(path)!r}: layer {i} metadata is corrupt")
        if entry.get("class") not in LAYERS:
            _import_all_layers()  # a class registers itself when its module is imported
        cls = LAYERS.get(entry.get("class"))
        if cls is None:
            raise ValueError(
                f"model file {os.fspath(path)!r}: layer {i} has unknown class "
                f"{entry.get('class')!r}; known: {sorted(LAYERS)}"
            )
        try:
            # from_config draws no initial weights: the file's state overwrites them, and
            # loading a model does not shift minidl.seed() streams
            layers.append(cls.from_config(entry["config"]))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"model file {os.fspath(path)!r}: cannot rebuild layer {i} "
                f"{_describe(entry)}: {err}"
            ) from None
    return layers


def _import_all_layers():
    """Import every module of minidl.layers so that ``LAYERS`` knows every class."""
    import minidl.layers as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")


def _describe(entry):
    args = ", ".join(f"{k}={v!r}" for k, v in entry.get("config", {}).items())
    return f"{entry.get('class')}({args})"
