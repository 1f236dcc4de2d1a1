r"""Real storage: the bytes of a model's weights dense, int8, sparse, and both; a file format.

Per Dense/Conv weight tensor of :math:`n` entries, :math:`z` of them nonzero, :math:`R` rows
(output units) and :math:`C = n / R` columns:

================  ====================================================================
``dense`` f32     :math:`4n`
``dense`` int8    :math:`n + 4R` (one float32 scale per output unit)
``bitmask``       :math:`\lceil n/8 \rceil` (``np.packbits`` of the nonzero pattern) + values
``csr``           values + :math:`z` column indices (uint8/uint16/uint32 as :math:`C` needs)
                  + :math:`4(R + 1)` row pointers (int32)
================  ====================================================================

where "values" are :math:`4z` (float32) or :math:`z + 4R` (int8 with scales). Everything else in the
state (biases, BatchNorm) stays float32. In chapter 04 (``chapters/04_cnn_optimization.ipynb``)
``dense`` is (4.1), :math:`P b / 8` bytes, and bitmask + int8 is (4.12),
:math:`\lceil n/8 \rceil + z + 4R`. The combined form is Han, Mao & Dally (2016), "Deep
Compression": prune, then quantize the survivors (they add k-means weight sharing and Huffman
coding; here the codes are linear int8, symmetric per output unit, as
:mod:`minidl.compression.quantization` defines them). ``sparse='auto'`` picks whichever of dense /
bitmask / CSR is smallest per tensor.

:func:`save_compressed` writes exactly these arrays into an ``.npz`` (stored, not deflated,
unless ``compress=True``), so the file is the counted bytes plus the zip and ``.npy`` headers
(a few hundred bytes per array); :func:`load_compressed` rebuilds the model with the
dequantized weights. Files load with ``allow_pickle=False`` and are written atomically.
"""

import json
import os
import tempfile

import numpy as np

from minidl.compression.pruning import prunable_weights
from minidl.compression.quantization import choose_qparams, dequantize, quantize

FORMAT = "minidl.compressed"
META_KEY = "__minidl_compressed__"
SPARSE_FORMATS = (None, "bitmask", "csr", "auto")


def _index_dtype(n_cols):
    return np.uint8 if n_cols <= 2**8 else np.uint16 if n_cols <= 2**16 else np.uint32


def quantize_weight_int8(w):
    """Symmetric int8 codes (narrow range [-127, 127]) with one scale per output unit."""
    flat = np.asarray(w, dtype=np.float32).reshape(len(w), -1)
    absmax = np.abs(flat).max(axis=1)
    scale, zp = choose_qparams(-absmax, absmax, bits=8, symmetric=True, narrow_range=True)
    codes = quantize(flat, scale, zp, bits=8, narrow_range=True, axis=0)
    return codes.reshape(np.shape(w)), scale


def encode_weight(w, sparse=None, int8=False):
    """The arrays that store ``w``: ``{'values', 'scale'?, 'mask'? | 'indices', 'indptr'}``.

    With ``int8`` the codes are quantized first, so a weight that rounds to code 0 is stored as
    a zero. ``sparse='auto'`` returns the smallest encoding.
    """
    if sparse not in SPARSE_FORMATS:
        raise ValueError(f"sparse must be one of {SPARSE_FORMATS}, got {sparse!r}")
    if sparse == "auto":
        options = [encode_weight(w, s, int8) for s in (None, "bitmask", "csr")]
        return min(options, key=lambda enc: sum(a.nbytes for a in enc.values()))
    w = np.asarray(w)
    enc = {}
    if int8:
        vals, enc["scale"] = quantize_weight_int8(w)
    else:
        vals = w.astype(np.float32)
    flat = vals.reshape(len(vals), -1)
    if sparse is None:
        enc["values"] = flat.reshape(-1)
    elif sparse == "bitmask":
        nz = flat != 0
        enc["mask"] = np.packbits(nz.reshape(-1))
        enc["values"] = flat[nz]
    else:  # csr over the (R, C) view
        rows, cols = np.nonzero(flat)
        enc["values"] = flat[rows, cols]
        enc["indices"] = cols.astype(_index_dtype(flat.shape[1]))
        enc["indptr"] = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(flat)))])
        enc["indptr"] = enc["indptr"].astype(np.int32)
    return enc


def decode_weight(enc, shape, dtype=np.float32):
    """Invert :func:`encode_weight`: the float weight of ``shape`` (dequantized if int8)."""
    shape = tuple(shape)
    rows = shape[0]
    cols = int(np.prod(shape[1:], dtype=np.int64))
    vals = enc["values"]
    flat = np.zeros((rows, cols), dtype=vals.dtype)
    if "mask" in enc:
        nz = np.unpackbits(enc["mask"], count=rows * cols).astype(bool).reshape(rows, cols)
        if nz.sum() != vals.size:
            raise ValueError(f"corrupt sparse weight: mask has {nz.sum()} ones, {vals.size} values")
        flat[nz] = vals
    elif "indices" in enc:
        counts = np.diff(enc["indptr"].astype(np.int64))
        if counts.sum() != vals.size or len(counts) != rows:
            raise ValueError("corrupt sparse weight: indptr does not match the values")
        flat[np.repeat(np.arange(rows), counts), enc["indices"].astype(np.int64)] = vals
    else:
        if vals.size != rows * cols:
            raise ValueError(f"corrupt weight: {vals.size} values for shape {shape}")
        flat = vals.reshape(rows, cols)
    if "scale" in enc:
        return dequantize(
            flat, enc["scale"], np.zeros(rows, np.int64), axis=0, dtype=dtype
        ).reshape(shape)
    return flat.astype(dtype).reshape(shape)


def model_bytes(model, sparse=None, int8=False):
    """Bytes of the model's state stored so: encoded Dense/Conv weights + float32 rest."""
    weights = prunable_weights(model)
    total = 0
    for key, arr in model.state_dict().items():
        if key in weights:
            total += sum(a.nbytes for a in encode_weight(arr, sparse, int8).values())
        else:
            total += arr.size * 4
    return total


def compressed_state(model, sparse="auto", int8=True):
    """``(arrays, meta)`` that :func:`save_compressed` writes (exposed for counting)."""
    from minidl.serialization import _architecture

    weights = prunable_weights(model)
    arrays, encodings = {}, {}
    for key, arr in model.state_dict().items():
        if key in weights:
            enc = encode_weight(arr, sparse, int8)
            encodings[key] = {
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "parts": sorted(enc),
            }
            arrays.update({f"{key}/{part}": v for part, v in enc.items()})
        else:
            arrays[key] = np.asarray(arr, dtype=np.float32)
            encodings[key] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "parts": None}
    meta = {"format": FORMAT, "layers": _architecture(model), "state": encodings}
    return arrays, meta


def save_compressed(model, path, sparse="auto", int8=True, compress=False, format="npz", **kw):
    """Write ``model`` to ``path`` (npz) with its Dense/Conv weights encoded as above.

    ``sparse``: None, 'bitmask', 'csr' or 'auto'; ``int8``: quantize the weights;
    ``compress``: deflate the zip members too (np.savez_compressed). Atomic: a temporary file
    in the same directory is renamed over ``path``. Returns the file size in bytes.
    ``format='deep_compression'`` writes the shared weights, Huffman-coded, instead
    (:func:`minidl.compression.deep_compression_format.save_deep_compressed`; ``kw`` are its
    ``bits``, ``index_bits``, ``coding``); :func:`load_compressed` reads both.
    """
    if format == "deep_compression":
        from minidl.compression.deep_compression_format import save_deep_compressed

        return save_deep_compressed(model, path, **kw)["total"]
    if format != "npz" or kw:
        raise ValueError(f"format must be 'npz' or 'deep_compression' (kw only for the latter), "
                         f"got {format!r} with {sorted(kw)}")  # fmt: skip
    arrays, meta = compressed_state(model, sparse, int8)
    # UTF-8 bytes, not a unicode array: NumPy stores str arrays as 4 bytes per character
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(
        prefix=".tmp-", suffix=".npz", dir=os.path.dirname(os.path.abspath(path))
    )
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return os.path.getsize(path)


def load_compressed(path):
    """Rebuild the model saved by :func:`save_compressed` (weights dequantized to float)."""
    import zipfile

    from minidl._rng import get_rng
    from minidl.compression import deep_compression_format as dcf
    from minidl.model import Sequential
    from minidl.serialization import _build_layers

    path = os.fspath(path)
    if dcf.is_deep_compressed(path):
        return dcf.load_deep_compressed(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeError) as err:
        raise ValueError(f"compressed model file {path!r} is corrupt or not one: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"compressed model file {path!r} has format "
            f"{meta.get('format') if isinstance(meta, dict) else None!r}, "
            f"not {FORMAT!r}"
        )
    rng = get_rng()
    state_before = rng.bit_generator.state  # building layers draws weights; keep the stream
    try:
        model = Sequential(_build_layers(meta, path))
    finally:
        rng.bit_generator.state = state_before
    state = {}
    for key, info in meta["state"].items():
        dtype = np.dtype(info["dtype"])
        if info["parts"] is None:
            state[key] = arrays[key].astype(dtype)
        else:
            enc = {part: arrays[f"{key}/{part}"] for part in info["parts"]}
            state[key] = decode_weight(enc, info["shape"], dtype)
    model.load_state_dict(state)
    return model
