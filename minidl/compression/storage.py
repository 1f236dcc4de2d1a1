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
import math
import os

import numpy as np

from minidl.archive import NpzArchive
from minidl.atomic import atomic_write
from minidl.compression.pruning import prunable_weights
from minidl.compression.quantization import choose_qparams, dequantize, quantize
from minidl.compression.storage_checks import (
    check_csr,
    check_mask,
    check_values,
    read_entry,
    read_metadata,
)

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
    """Invert :func:`encode_weight`: the float weight of ``shape`` (dequantized if int8).

    The structure is checked first, so crafted parts raise ``ValueError`` rather than load a
    wrong weight: int8 codes in [-127, 127] with one positive scale per row (float32 values
    without), a mask of ``ceil(n/8)`` bytes whose ones count the values, CSR row pointers that
    start at 0 and never decrease, and column indices of an unsigned integer type, below the
    column count and strictly increasing within each row (no repeats).
    """
    shape = tuple(int(d) for d in shape)
    if not shape:
        raise ValueError("corrupt weight: a stored weight has at least one dimension")
    rows, cols = shape[0], math.prod(shape[1:])
    vals = check_values(enc, rows)
    if "mask" in enc:
        nz = check_mask(enc["mask"], rows * cols, vals.size).reshape(rows, cols)
        flat = np.zeros((rows, cols), dtype=vals.dtype)
        flat[nz] = vals
    elif "indices" in enc:
        row_of, col_of = check_csr(enc["indptr"], enc["indices"], rows, cols, vals.size)
        flat = np.zeros((rows, cols), dtype=vals.dtype)
        flat[row_of, col_of] = vals
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
    from minidl.nn.serialization import architecture

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
    meta = {"format": FORMAT, "layers": architecture(model), "state": encodings}
    return arrays, meta


def save_compressed(model, path, sparse="auto", int8=True, compress=False, format="npz", **kw):
    """Write ``model`` to ``path`` (npz) with its Dense/Conv weights encoded as above.

    ``sparse``: None, 'bitmask', 'csr' or 'auto'; ``int8``: quantize the weights;
    ``compress``: deflate the zip members too (np.savez_compressed). Atomic, with the
    permissions of any new file (:func:`minidl.atomic.atomic_write`); refuses (``ValueError``,
    nothing written) a state :func:`load_compressed` would refuse. Returns the file size.
    ``format='deep_compression'`` writes the shared weights, Huffman-coded, instead
    (:func:`minidl.compression.deep_compression_format.save_deep_compressed`; ``kw`` are its
    ``bits``, ``index_bits``, ``coding``); :func:`load_compressed` reads both.
    """
    from minidl.nn.serialization import check_state

    if format == "deep_compression":
        from minidl.compression.deep_compression_format import save_deep_compressed

        return save_deep_compressed(model, path, **kw)["total"]
    if format != "npz" or kw:
        raise ValueError(f"format must be 'npz' or 'deep_compression' (kw only for the latter), "
                         f"got {format!r} with {sorted(kw)}")  # fmt: skip
    path = os.fspath(path)
    arrays, meta = compressed_state(model, sparse, int8)
    check_state(meta["layers"], model.state_dict(), f"cannot save {path!r}, load would refuse it")
    # UTF-8 bytes, not a unicode array: NumPy stores str arrays as 4 bytes per character
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: (np.savez_compressed if compress else np.savez)(f, **arrays))
    return os.path.getsize(path)


def load_compressed(path):
    """Rebuild the model saved by :func:`save_compressed` (weights dequantized to float).

    Checked as :func:`minidl.nn.serialization.load_model` checks a model file (sizes against the
    file before anything is allocated, only the expected members read), and each encoded
    weight's structure as :func:`decode_weight` says; any problem is a ``ValueError`` naming
    the file. A Deep Compression file (found by its magic bytes) is read by
    :func:`minidl.compression.deep_compression_format.load_deep_compressed`, checked alike.
    """
    from minidl.compression import deep_compression_format as dcf
    from minidl.nn.model import Sequential
    from minidl.nn.serialization import build_layers, restore_state

    if dcf.is_deep_compressed(path):
        return dcf.load_deep_compressed(path)
    with NpzArchive(path, "compressed model file") as archive:
        where = f"compressed model file {archive.path!r}"
        entries, declared, built = read_metadata(archive, META_KEY, FORMAT, where)
        state = {
            key: read_entry(archive, key, info, where, decode_weight)
            for key, info in declared.items()
        }
    model = Sequential(build_layers(entries, where, built))
    restore_state(model, state, where)
    return model
