"""What a ``save_compressed`` file must hold, checked before it becomes a model.

:func:`read_metadata` checks the metadata (format, layer entries, one ``{"shape", "dtype",
"parts"}`` per state key), compares the declared shapes and dtypes with those the layer
configs imply (:func:`minidl.nn.serialization.expected_state`) and the zip's member names with
those the parts imply, all before any array is read. :func:`read_entry` then checks each
member's header against its part (sizes bounded by the declared shape), reads it, and
decodes it through :func:`~minidl.compression.storage.decode_weight`, whose structure checks
(``check_values``, ``check_mask``, ``check_csr``) are here too.
"""

import math

import numpy as np

from minidl.archive import parse_json

PART_SETS = (  # the encodings save_compressed writes, with or without an int8 "scale"
    ("values",), ("mask", "values"), ("indices", "indptr", "values"),
)  # fmt: skip


def read_metadata(archive, meta_key, fmt, where):
    """``(layer entries, {key: info}, prebuilt layers)`` from a compressed file, all checked."""
    from minidl.nn.serialization import check_layer_entries, compare_specs, expected_state

    if meta_key not in archive:
        raise archive.invalid(f"is corrupt or not one: no {meta_key!r} member")
    meta = parse_json(archive.read_text(meta_key), f"{where} has corrupt metadata")
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise archive.invalid(f"has format {str(found)[:50]!r}, not {fmt!r}")
    check_layer_entries(meta.get("layers"), archive.invalid)
    state = meta.get("state")
    if not isinstance(state, dict):
        raise archive.invalid("has corrupt metadata: no 'state' object")
    for key, info in state.items():
        if not _valid_info(info):
            raise archive.invalid(f"has corrupt metadata for {key!r}: {str(info)[:200]}")
    declared = {k: (tuple(v["shape"]), v["dtype"]) for k, v in state.items()}
    expected, built = expected_state(meta["layers"], declared, where)
    problems = compare_specs(expected, declared)
    members = {
        key if info["parts"] is None else f"{key}/{part}": None
        for key, info in state.items()
        for part in (info["parts"] or [None])
    }
    problems += compare_specs(members, {k: None for k in archive.keys() if k != meta_key})
    if problems:
        raise archive.invalid("; ".join(problems))
    return meta["layers"], state, built


def _valid_info(info):
    if not isinstance(info, dict) or not isinstance(info.get("dtype"), str):
        return False
    shape, parts = info.get("shape"), info.get("parts")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return False
    if parts is None:
        return True
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        return False
    plain = tuple(sorted(p for p in parts if p != "scale"))
    return len(shape) >= 1 and plain in PART_SETS and len(parts) == len(set(parts))


def read_entry(archive, key, info, where, decode_weight):
    """The state array ``key``: a float32 member cast to its dtype, or a weight decoded by
    ``decode_weight`` (:func:`minidl.compression.storage.decode_weight`, passed in by the reader
    so that the checks do not import the module that imports them)."""
    shape, dtype = tuple(info["shape"]), np.dtype(info["dtype"])
    if info["parts"] is None:
        found = archive.header(key)
        if found != (shape, np.dtype(np.float32)):
            raise archive.invalid(f"member {key!r} must be float32 {shape}, got {found}")
        return archive.read(key).astype(dtype)
    n, rows = math.prod(shape), shape[0]
    limits = {  # what each part's header may say, given the declared shape
        "values": lambda s: len(s) == 1 and s[0] <= n,
        "scale": lambda s: s == (rows,),
        "mask": lambda s: s == ((n + 7) // 8,),
        "indices": lambda s: len(s) == 1 and s[0] <= n,
        "indptr": lambda s: s == (rows + 1,),
    }
    for part in info["parts"]:
        part_shape, _ = archive.header(f"{key}/{part}")
        if not limits[part](part_shape):
            raise archive.invalid(
                f"member '{key}/{part}' has shape {part_shape}, impossible for a weight of "
                f"shape {shape}"
            )
    enc = {part: archive.read(f"{key}/{part}") for part in info["parts"]}
    try:
        return decode_weight(enc, shape, dtype)
    except (TypeError, ValueError) as err:
        raise archive.invalid(f"{key!r}: {err}") from None


def _require(ok, what, want, array):
    if not ok:
        raise ValueError(f"corrupt weight: {what} must be {want}, got {array.dtype} {array.shape}")


def check_values(enc, rows):
    """The values: float32 without a scale; int8 codes in [-127, 127] with a float32 scale per
    row, finite and positive (the narrow symmetric grid quantize_weight_int8 writes)."""
    vals = np.asarray(enc["values"])
    _require(vals.ndim == 1, "values", "1-D", vals)
    if "scale" not in enc:
        _require(vals.dtype == np.float32, "values without a scale", "float32", vals)
        return vals
    scale = np.asarray(enc["scale"])
    _require(vals.dtype == np.int8, "values with a scale", "int8 codes", vals)
    _require(
        scale.dtype == np.float32 and scale.shape == (rows,), "scale", f"float32 ({rows},)", scale
    )
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise ValueError("corrupt weight: every scale must be finite and > 0")
    if vals.size and vals.min() < -127:
        raise ValueError("corrupt weight: int8 codes must lie in [-127, 127] (narrow range)")
    return vals


def check_mask(mask, n, n_values):
    """The nonzero pattern: ``ceil(n/8)`` bytes, zero padding, as many ones as values."""
    mask = np.asarray(mask)
    nbytes = (n + 7) // 8
    _require(mask.dtype == np.uint8 and mask.shape == (nbytes,), "mask", f"uint8 ({nbytes},)", mask)
    bits = np.unpackbits(mask)
    if bits[n:].any():
        raise ValueError("corrupt sparse weight: mask has bits set past the weight's end")
    nz = bits[:n].astype(bool)
    if nz.sum() != n_values:
        raise ValueError(f"corrupt sparse weight: mask has {nz.sum()} ones, {n_values} values")
    return nz


def check_csr(indptr, indices, rows, cols, n_values):
    """``(row of each value, column of each value)`` once the CSR structure is valid: row
    pointers from 0 to the number of values, never falling; unsigned column indices below
    ``cols``, strictly increasing within a row (a repeat would overwrite a value)."""
    indptr, indices = np.asarray(indptr), np.asarray(indices)
    _require(indptr.dtype == np.int32 and indptr.shape == (rows + 1,), "indptr",
             f"int32 ({rows + 1},)", indptr)  # fmt: skip
    unsigned = np.issubdtype(indices.dtype, np.unsignedinteger)
    _require(unsigned and indices.shape == (n_values,), "indices",
             f"unsigned integers ({n_values},)", indices)  # fmt: skip
    counts = np.diff(indptr.astype(np.int64))
    if indptr[0] != 0 or indptr[-1] != n_values or np.any(counts < 0):
        raise ValueError("corrupt sparse weight: indptr must rise from 0 to the number of values")
    col_of = indices.astype(np.int64)
    if n_values and col_of.max() >= cols:
        raise ValueError(f"corrupt sparse weight: a column index {col_of.max()} is >= {cols}")
    row_of = np.repeat(np.arange(rows), counts)
    if np.any((np.diff(col_of) <= 0) & (np.diff(row_of) == 0)):
        raise ValueError("corrupt sparse weight: column indices repeat or fall within a row")
    return row_of, col_of
