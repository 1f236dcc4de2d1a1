"""Hand-built bad files for the loaders' tests and ``benchmarks/bench_bad_files.py``.

Each builder writes bytes with ``zipfile``, ``gzip`` and ``numpy.lib.format`` directly, not
with minidl's writers, so a header can claim what its data does not hold. The red-team sizes
(issue 17) are the defaults of the benchmark; the tests pass smaller ones.
"""

import gzip
import io
import json
import struct
import zipfile

import numpy as np

MODEL_META = "__minidl_metadata__"
COMPRESSED_META = "__minidl_compressed__"


def npy_bytes(array=None, *, shape=None, descr=None, payload=None):
    """``.npy`` bytes: the array's own, or a header claiming ``shape``/``descr`` over
    ``payload`` (any bytes)."""
    if array is not None:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
        return buf.getvalue()
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + (payload or b"")


def write_zip(path, members, deflated=()):
    """A zip of ``{name: bytes}`` (stored; names in ``deflated`` are deflated)."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as z:
        for name, blob in members.items():
            method = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            z.writestr(zipfile.ZipInfo(name), blob, compress_type=method)
    return path


def add_zero_bomb(path, name, n_bytes, header=None):
    """Append a deflated member of ``n_bytes`` zeros (streamed: no ``n_bytes`` buffer here),
    after ``header`` bytes if given (an ``.npy`` header, say)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "a", allowZip64=True) as z, z.open(info, "w", force_zip64=True) as f:
        if header:
            f.write(header)
        left = n_bytes
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return path


def dense_meta(layers, keys):
    """The metadata ``Sequential.save`` writes, for the given layer entries and keys."""
    return {
        "format": "minidl.Sequential",
        "format_version": 1,
        "minidl_version": "0.1.0",
        "layers": layers,
        "keys": keys,
    }


def dense_layer(n_in, n_out):
    config = {"in_features": n_in, "out_features": n_out, "bias": True, "init": "pytorch",
              "dtype": "float32"}  # fmt: skip
    return {"class": "Dense", "config": config}


def model_file(path, meta, arrays, deflated=()):
    """A model file holding ``meta`` (JSON, as save writes it) and ``{key: npy bytes}``."""
    members = {MODEL_META + ".npy": npy_bytes(np.array(json.dumps(meta)))}
    members.update({f"{k}.npy": v for k, v in arrays.items()})
    return write_zip(path, members, deflated)


def small_dense_arrays(n_in=3, n_out=2):
    return {
        "0.weight": npy_bytes(np.zeros((n_out, n_in), np.float32)),
        "0.bias": npy_bytes(np.zeros(n_out, np.float32)),
    }


def huge_config_model(path, n):
    """A small file whose metadata says ``Dense(n, n)``, holding a 2x3 layer's arrays."""
    return model_file(
        path, dense_meta([dense_layer(n, n)], ["0.weight", "0.bias"]), small_dense_arrays()
    )


def huge_header_model(path, n=10**12):
    """A Dense(3, 2) file whose ``0.weight`` header claims shape ``(n,)`` over 24 bytes."""
    arrays = small_dense_arrays()
    arrays["0.weight"] = npy_bytes(shape=(n,), descr="<f4", payload=bytes(24))
    return model_file(path, dense_meta([dense_layer(3, 2)], ["0.weight", "0.bias"]), arrays)


def extra_bomb_model(path, n_bytes):
    """A valid Dense(3, 2) file plus an extra member: ``n_bytes`` zeros deflated."""
    model_file(path, dense_meta([dense_layer(3, 2)], ["0.weight", "0.bias"]), small_dense_arrays())
    header = npy_bytes(shape=(n_bytes,), descr="|u1")
    return add_zero_bomb(path, "extra.npy", n_bytes, header)


def nested_json(depth):
    return "[" * depth + "]" * depth


def deep_json_model(path, depth=100_000):
    meta = dense_meta([dense_layer(3, 2)], ["0.weight", "0.bias"])
    text = json.dumps(meta).replace('"keys"', f'"deep": {nested_json(depth)}, "keys"')
    members = {MODEL_META + ".npy": npy_bytes(np.array(text))}
    members.update({f"{k}.npy": v for k, v in small_dense_arrays().items()})
    return write_zip(path, members)


def compressed_meta(layers, state):
    return {"format": "minidl.compressed", "layers": layers, "state": state}


def compressed_file(path, meta_text, arrays, deflated=()):
    """A ``save_compressed``-style file: metadata as UTF-8 bytes (uint8) plus ``arrays``."""
    raw = np.frombuffer(meta_text.encode("utf-8"), dtype=np.uint8)
    members = {COMPRESSED_META + ".npy": npy_bytes(raw)}
    members.update({f"{k}.npy": v for k, v in arrays.items()})
    return write_zip(path, members, deflated)


def deep_json_compressed(path, depth=100_000):
    state = {
        "0.weight": {"shape": [2, 3], "dtype": "float32", "parts": ["values"]},
        "0.bias": {"shape": [2], "dtype": "float32", "parts": None},
    }
    text = json.dumps(compressed_meta([dense_layer(3, 2)], state))
    text = text.replace('"state"', f'"deep": {nested_json(depth)}, "state"')
    arrays = {
        "0.weight/values": npy_bytes(np.zeros(6, np.float32)),
        "0.bias": npy_bytes(np.zeros(2, np.float32)),
    }
    return compressed_file(path, text, arrays)


def extra_bomb_compressed(path, n_bytes):
    state = {
        "0.weight": {"shape": [2, 3], "dtype": "float32", "parts": ["values"]},
        "0.bias": {"shape": [2], "dtype": "float32", "parts": None},
    }
    arrays = {
        "0.weight/values": npy_bytes(np.zeros(6, np.float32)),
        "0.bias": npy_bytes(np.zeros(2, np.float32)),
    }
    compressed_file(path, json.dumps(compressed_meta([dense_layer(3, 2)], state)), arrays)
    return add_zero_bomb(path, "extra.npy", n_bytes, npy_bytes(shape=(n_bytes,), descr="|u1"))


def idx_header(code, shape):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}i", *shape)


def idx_gzip_bomb(path, n_bytes, shape=(10,)):
    """A gzipped IDX whose header claims ``shape`` (uint8) followed by ``n_bytes`` zeros."""
    chunk = bytes(1 << 20)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(idx_header(0x08, shape))
        left = n_bytes
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return path


def idx_overflow(path):
    """Four dimensions of 2^16: their product, 2^64, wraps to 0 in int64, as the empty data."""
    path.write_bytes(idx_header(0x08, (2**16,) * 4))
    return path


def peak_memory(fn):
    """``(exception or None, peak bytes allocated)`` while ``fn()`` runs (tracemalloc sees
    Python objects and NumPy's arrays alike)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        error = None
    except Exception as err:  # noqa: BLE001 (returned for the test to inspect)
        error = err
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak
