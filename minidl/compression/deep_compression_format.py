r"""The Deep Compression file: every byte counted, loads back to exactly the shared-weight model.

Layout (little endian)::

    8 bytes   magic  b"MDLDC\x00\x01\n"
    4 bytes   uint32 length of the header
    header    zlib-deflated JSON: architecture (as :mod:`minidl.nn.serialization`), and per state
              array its key, shape, dtype, how it is stored and the byte length of each section
    sections  per state array, in ``state_dict`` order:
              shared weight:  codebook (float32, the K nonzero centroids; index 0 is the zero)
                              [Huffman: weight code table, index code table]
                              weight stream (one symbol per entry: 0 = zero, 1..K = centroid)
                              index stream (relative indices, only when the tensor has zeros)
              anything else:  float32 values (biases, BatchNorm, a weight with > 255 values)

A Dense/Conv weight is *shared* when it has at most 255 distinct nonzero values (after
:func:`~minidl.compression.weight_sharing.share_model_weights`): its codebook is those values,
sorted, so the file is derived from the model itself and :func:`load_deep_compressed` rebuilds
exactly the same float32 weights. Its entries are the nonzeros plus the filler zeros of
:func:`~minidl.compression.relative_index.to_relative`. ``coding='fixed'`` packs the weight
symbols in ``bits`` and the relative indices in ``index_bits`` bits each (the paper's "P+Q");
``coding='huffman'`` Huffman-codes both streams with a canonical table each ("P+Q+H").

:func:`deep_compressed_parts` returns the sections with a category each; the size it reports
(:func:`size_report`) is the file's size to the byte, header included. Values are stored as
float32 (networks here are float32): a float64 model comes back as its float32 rounding.
"""

import json
import math
import os
import zlib

import numpy as np

from minidl.archive import MAX_TEXT_BYTES, parse_json
from minidl.atomic import atomic_write
from minidl.compression import huffman
from minidl.compression.pruning import prunable_weights
from minidl.compression.relative_index import from_relative, to_relative
from minidl.nn.serialization import (
    architecture,
    build_layers,
    check_layer_entries,
    check_state,
    compare_specs,
    expected_state,
    restore_state,
)

MAGIC = b"MDLDC\x00\x01\n"
FORMAT = "minidl.deep_compression"
VERSION = 1
CODINGS = ("huffman", "fixed")
CATEGORIES = ("header", "codebooks", "code tables", "weight streams", "index streams", "float32")


def pack_fixed(symbols, width):
    """Symbols as ``width``-bit unsigned numbers, MSB first, one after the other."""
    symbols = np.asarray(symbols, dtype=np.int64)
    bits = (symbols[:, None] >> np.arange(width - 1, -1, -1)[None, :]) & 1
    return np.packbits(bits.astype(np.uint8).ravel())


def unpack_fixed(data, n, width):
    """Inverse of :func:`pack_fixed`: ``n`` symbols of ``width`` bits."""
    data = np.asarray(data, dtype=np.uint8)
    if 8 * data.size < n * width:  # unpackbits would pad a short stream with zeros
        raise ValueError(f"fixed-width stream truncated: {8 * data.size} bits for {n} x {width}")
    bits = np.unpackbits(data, count=n * width)
    return (bits.reshape(n, width).astype(np.int64) << np.arange(width - 1, -1, -1)).sum(axis=1)


def _per_key(value, key, default):
    if isinstance(value, dict):
        return value.get(key, default)
    return default if value is None else value


def _encode_stream(symbols, width, coding, parts, category):
    """Append the stream (and its table) to ``parts``; return its section lengths."""
    if coding == "fixed":
        data = pack_fixed(symbols, width)
        parts.append((category, data))
        return [len(data)]
    code = huffman.HuffmanCode.from_symbols(symbols, 2**width)
    table = huffman.table_to_bytes(code)
    data, _ = huffman.encode(symbols, code)
    parts.append(("code tables", table))
    parts.append((category, data))
    return [len(table), len(data)]


def _encode_weight(w, bits, index_bits, coding, parts):
    """The sections of one Dense/Conv weight; returns its header entry."""
    flat = np.asarray(w, dtype=np.float32).ravel()
    nz = np.flatnonzero(flat)
    values, inverse = np.unique(flat[nz], return_inverse=True)
    if len(values) > 255:
        return None
    need = max(1, math.ceil(math.log2(len(values) + 1)))
    width = need if bits is None else int(bits)
    if not need <= width <= 8:
        raise ValueError(f"bits={bits} cannot hold {len(values)} centroids and the zero")
    sparse = len(nz) < flat.size
    codes, entries = to_relative(nz, index_bits) if sparse else (None, nz)
    symbols = np.zeros(flat.size, np.int64)
    symbols[nz] = inverse.ravel() + 1
    parts.append(("codebooks", values.astype("<f4").view(np.uint8)))
    info = {"kind": "shared", "n_codes": len(values), "bits": width, "sparse": sparse}
    info["n_entries"] = len(entries)
    info["sections"] = [len(values) * 4]
    info["sections"] += _encode_stream(symbols[entries], width, coding, parts, "weight streams")
    if sparse:
        info["index_bits"] = int(index_bits)
        info["sections"] += _encode_stream(codes, index_bits, coding, parts, "index streams")
    return info


def deep_compressed_parts(model, bits=None, index_bits=5, coding="huffman"):
    """``(parts, header)``: the file's sections as ``(category, uint8 array)`` in file order.

    ``bits`` / ``index_bits``: an int or a dict key -> int per weight (``bits=None``: the fewest
    bits that hold the layer's centroids and the zero).
    """
    if isinstance(model, (str, os.PathLike)) or not hasattr(model, "state_dict"):
        raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {CODINGS}, got {coding!r}")
    weights = prunable_weights(model)
    parts, tensors = [], []
    for key, arr in model.state_dict().items():
        info = None
        if key in weights:
            ib = _per_key(index_bits, key, 5)
            if isinstance(ib, bool) or not isinstance(ib, (int, np.integer)) or not 1 <= ib <= 8:
                raise ValueError(f"index_bits must be an int in [1, 8] (for {key}), got {ib!r}")
            info = _encode_weight(arr, _per_key(bits, key, None), ib, coding, parts)
        if info is None:
            data = np.ascontiguousarray(arr, dtype="<f4").view(np.uint8).ravel()
            parts.append(("float32", data))
            info = {"kind": "float32", "sections": [data.size]}
        info.update(key=key, shape=list(arr.shape), dtype=str(arr.dtype), coding=coding)
        tensors.append(info)
    header = {"format": FORMAT, "version": VERSION, "layers": architecture(model)}
    header["tensors"] = tensors
    return parts, header


def _header_bytes(header):
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body = zlib.compress(text, 9)
    return MAGIC + np.array([len(body)], "<u4").tobytes() + body


def size_report(parts, header):
    """Bytes per category (see :data:`CATEGORIES`) and ``'total'``: the file's exact size."""
    report = dict.fromkeys(CATEGORIES, 0)
    report["header"] = len(_header_bytes(header))
    for category, data in parts:
        report[category] += int(data.size)
    report["total"] = sum(report[c] for c in CATEGORIES)
    return report


def save_deep_compressed(model, path, bits=None, index_bits=5, coding="huffman"):
    """Write ``model`` in this format to ``path`` atomically (:func:`minidl.atomic.atomic_write`);
    returns :func:`size_report`. Refuses (``ValueError``, nothing written) a state the loader
    would refuse (NaN or inf, say)."""
    parts, header = deep_compressed_parts(model, bits, index_bits, coding)
    path = os.fspath(path)
    check_state(header["layers"], model.state_dict(), f"cannot save {path!r}, load would refuse it")
    blob = _header_bytes(header) + b"".join(data.tobytes() for _, data in parts)
    atomic_write(path, lambda f: f.write(blob))
    return size_report(parts, header)


def _corrupt(path, what):
    return ValueError(f"Deep Compression file {os.fspath(path)!r} is corrupt or not one: {what}")


def is_deep_compressed(path):
    """True when ``path`` is a readable file that starts with this format's magic."""
    try:
        with open(os.fspath(path), "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_header(path):
    """``(header dict, payload bytes)`` of a file written by :func:`save_deep_compressed`.

    The header is inflated to at most 512 KiB + 16 times its deflated size (and
    ``MAX_TEXT_BYTES``), its JSON parsed without recursion
    (:func:`minidl.archive.parse_json`), and its structure is checked (:func:`check_header`).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"Deep Compression file {path!r} is a folder, not a file")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[: len(MAGIC)] != MAGIC:
        raise _corrupt(path, f"starts with {raw[:8]!r}, not {MAGIC!r}")
    start = len(MAGIC) + 4
    n = int(np.frombuffer(raw[len(MAGIC) : start], "<u4")[0]) if len(raw) >= start else -1
    if n < 0 or start + n > len(raw):
        raise _corrupt(path, f"the header runs past the end of the {len(raw)}-byte file")
    # JSON deflates 4x (a zoo net) to 50x (300 identical layers: 112 KB from 2.3 KB); 512 KiB
    # + 16x its deflated size holds any real header, and a 64 KB bomb can no longer claim 64 MB
    limit = min(MAX_TEXT_BYTES, 2**19 + 16 * n)
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(raw[start : start + n], limit)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError(f"it does not inflate to a whole JSON text within {limit} bytes")
        header = parse_json(text.decode("utf-8"), "JSON")
    except (zlib.error, ValueError) as err:
        raise _corrupt(path, f"header: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _corrupt(path, "the header does not name the format")
    if header.get("version") != VERSION:
        raise _corrupt(
            path, f"version {str(header.get('version'))[:20]}; this minidl reads {VERSION}"
        )
    check_header(header, path)
    return header, raw[start + n :]


def _is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _valid_tensor(t):
    """One header entry has the fields its kind needs, with sizes that fit together."""
    if not isinstance(t, dict) or not isinstance(t.get("key"), str):
        return False
    shape, sections = t.get("shape"), t.get("sections")
    if not isinstance(shape, list) or not all(_is_int(d, 0, 2**40) for d in shape):
        return False
    if not isinstance(sections, list) or not all(_is_int(n, 0, 2**40) for n in sections):
        return False
    if not isinstance(t.get("dtype"), str):
        return False
    if t.get("kind") == "float32":
        return len(sections) == 1
    size, sparse = math.prod(shape), t.get("sparse")
    ok = t.get("kind") == "shared" and t.get("coding") in CODINGS and len(shape) >= 1
    ok = ok and _is_int(t.get("n_codes"), 1, 255) and _is_int(t.get("bits"), 1, 8)
    ok = ok and _is_int(t.get("n_entries"), 0, size) and isinstance(sparse, bool)
    ok = ok and (not sparse or _is_int(t.get("index_bits"), 1, 8))
    per_stream = 1 if t.get("coding") == "fixed" else 2  # (code table and) stream
    return ok and len(sections) == 1 + per_stream * (2 if sparse else 1)


def check_header(header, path):
    """Layer entries as a model file's, and one well-formed entry per tensor; else raise."""
    check_layer_entries(header.get("layers"), lambda what: _corrupt(path, what))
    tensors = header.get("tensors")
    if not isinstance(tensors, list) or not all(_valid_tensor(t) for t in tensors):
        raise _corrupt(path, "the header's list of tensors is corrupt")


def _decode_stream(sections, width, n, coding):
    """Symbols of one stream from its sections (consumed from the front of ``sections``)."""
    if coding == "fixed":
        return unpack_fixed(sections.pop(0), n, width)
    table = sections.pop(0)
    code, used = huffman.table_from_bytes(table, 2**width)
    if used != table.size:
        raise ValueError("code table length does not match the header")
    return huffman.decode(sections.pop(0), n, code)


def _decode_tensor(info, sections):
    shape, size = tuple(info["shape"]), int(np.prod(info["shape"], dtype=np.int64))
    if info["kind"] == "float32":
        return sections[0].view("<f4").reshape(shape).astype(info["dtype"])
    codebook = np.concatenate([[0.0], sections.pop(0).view("<f4")]).astype(np.float32)
    if len(codebook) != info["n_codes"] + 1:
        raise ValueError("codebook length does not match the header")
    symbols = _decode_stream(sections, info["bits"], info["n_entries"], info["coding"])
    if info["sparse"]:
        codes = _decode_stream(sections, info["index_bits"], info["n_entries"], info["coding"])
        entries = from_relative(codes, size)
    else:
        entries = np.arange(size)
    if symbols.size and symbols.max() >= len(codebook):
        raise ValueError("a weight symbol points past the codebook")
    flat = np.zeros(size, np.float32)
    flat[entries] = codebook[symbols]
    return flat.reshape(shape).astype(info["dtype"])


def load_deep_compressed(path):
    """Rebuild the model of a file written by :func:`save_deep_compressed`, exactly.

    Before any layer is built or any tensor decoded, the header's shapes and dtypes are checked
    against those the layer configs imply (:func:`minidl.nn.serialization.expected_state`) and
    its section lengths against the file's length.
    """
    from minidl.nn.model import Sequential

    header, payload = read_header(path)
    where = f"Deep Compression file {os.fspath(path)!r}"
    declared = {t["key"]: (tuple(t["shape"]), t["dtype"]) for t in header["tensors"]}
    expected, built = expected_state(header["layers"], declared, where)
    problems = compare_specs(expected, declared)
    if len(declared) != len(header["tensors"]):
        problems.append("a tensor key appears twice")
    total = sum(sum(t["sections"]) for t in header["tensors"])
    if total != len(payload):
        problems.append(f"its sections add up to {total} bytes, the payload has {len(payload)}")
    if problems:
        raise _corrupt(path, "; ".join(problems))
    buf, pos, state = np.frombuffer(payload, np.uint8), 0, {}
    try:
        for info in header["tensors"]:
            sections = []
            for n in info["sections"]:
                sections.append(buf[pos : pos + n])
                pos += n
            state[info["key"]] = _decode_tensor(info, sections)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise _corrupt(path, err) from None
    model = Sequential(build_layers(header["layers"], where, built))
    restore_state(model, state, where)
    return model
