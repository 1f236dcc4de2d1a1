"""Reading ``.npz`` files one cannot trust: every size is checked before anything is allocated.

An ``.npz`` is a zip of ``.npy`` members. A crafted one can claim anything: a member header
saying shape (10^12,) over 24 bytes, a 1 MB deflated member that inflates to 1 GB, metadata
nested 100,000 deep. :class:`NpzArchive` reads only what its caller asks for, and before it
allocates a member it checks that

- the member is stored or deflated (no other zip method, no encryption), once in the archive;
- its ``.npy`` header (read through a bounded stream: at most ``MAX_NPY_HEADER`` bytes) holds
  a plain dtype (never Python objects: nothing is unpickled) and a non-negative shape;
- the header's shape times the item size, plus the header, is the member's uncompressed size
  in the zip directory, and that size fits in the file: equal to the stored bytes, or at most
  ``MAX_DEFLATE_RATIO`` times the deflated ones (deflate cannot expand more than 1032:1), all
  within the file's length.

Reading then inflates exactly the declared bytes and the zip's CRC-32 is verified. Every
failure is a ``ValueError`` that names the file. :func:`parse_json` reads metadata: invalid
JSON or JSON nested deeper than ``MAX_JSON_DEPTH`` is a ``ValueError``, never a
``RecursionError``.
"""

import json
import math
import os
import struct
import tokenize
import zipfile
import zlib

import numpy as np

MAX_DEFLATE_RATIO = 1032  # deflate's largest expansion: 258 bytes per 2-bit code, ~1032:1
MAX_NPY_HEADER = 10_000  # numpy's own default limit for a trusted header
MAX_TEXT_BYTES = 16 * 2**20  # metadata: a 1,000-layer model's JSON is ~200 KB
MAX_JSON_DEPTH = 32  # minidl writes 4 levels (5 for a wrapped layer's config)

# What zipfile, zlib and numpy.lib.format raise on damaged bytes (RuntimeError: encryption;
# NotImplementedError: compression methods; ValueError: .npy headers and text decoding;
# TokenError and SyntaxError: a damaged .npy header that numpy's old-header filter tokenizes).
_DAMAGE = (
    zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
    IndexError, struct.error, zlib.error, NotImplementedError, RuntimeError, OverflowError,
    tokenize.TokenError, SyntaxError,
)  # fmt: skip
_READABLE_KINDS = "biufcUS"  # bool, integers, floats, complex, text: plain bytes, no pickle


class NpzArchive:
    """A zip of ``.npy`` members opened for checked reading (a context manager).

    ``what`` names the kind of file in messages (``'model file'``). ``keys()`` lists the
    members (names without ``.npy``) without reading them; ``header(key)`` returns
    ``(shape, dtype)`` after the checks of the module docstring; ``read(key)`` the array,
    ``read_text(key)`` a text member (a unicode array or UTF-8 bytes).
    """

    def __init__(self, path, what):
        self.path, self.what = os.fspath(path), what
        if os.path.isdir(self.path):
            raise ValueError(f"{what} {self.path!r} is a folder, not a file")
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{what} {self.path!r} does not exist")
        self._file = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        try:
            self._open_zip()
        except BaseException:
            self._file.close()
            raise
        self._headers = {}

    def _open_zip(self):
        magic = self._file.read(4)
        if magic != b"PK\x03\x04":
            kind = "a single .npy array" if magic == b"\x93NUM" else f"starts with {magic!r}"
            raise self.corrupt(f"not an .npz (zip) archive: {kind}")
        self._file.seek(0)
        self.size = os.fstat(self._file.fileno()).st_size
        try:
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except _DAMAGE as err:
            raise self.corrupt(err) from None
        self._infos = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key in self._infos:
                raise self.corrupt(f"member {info.filename!r} appears twice")
            self._infos[key] = info

    # --- errors naming the file ----------------------------------------------------------

    def corrupt(self, detail):
        return ValueError(f"{self.what} {self.path!r} is truncated or corrupt: {detail}")

    def invalid(self, detail):
        return ValueError(f"{self.what} {self.path!r}: {detail}")

    # --- members -------------------------------------------------------------------------

    def keys(self):
        return list(self._infos)

    def __contains__(self, key):
        return key in self._infos

    def header(self, key):
        """``(shape, dtype)`` of member ``key``, its sizes checked against the file's."""
        if key not in self._headers:
            self._headers[key] = self._check_member(self._infos[key])
        shape, dtype, _ = self._headers[key]
        return shape, dtype

    def _check_member(self, info):
        name = info.filename
        if info.flag_bits & 0x1:
            raise self.corrupt(f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.corrupt(
                f"member {name!r} uses zip method {info.compress_type}; only stored (0) and "
                "deflated (8) members are read"
            )
        if info.header_offset + info.compress_size > self.size:
            raise self.corrupt(
                f"member {name!r} claims {info.compress_size} bytes at offset "
                f"{info.header_offset}, past the end of the {self.size}-byte file"
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if stored and info.file_size != info.compress_size:
            raise self.corrupt(
                f"stored member {name!r} claims {info.file_size} bytes in {info.compress_size}"
            )
        if not stored and info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise self.corrupt(
                f"member {name!r} claims to inflate {info.compress_size} bytes to "
                f"{info.file_size}; deflate cannot expand more than {MAX_DEFLATE_RATIO}:1"
            )
        try:
            with self._zip.open(info) as fp:
                shape, dtype = _read_npy_header(fp)
                header_bytes = fp.tell()
        except _DAMAGE as err:
            raise self.corrupt(f"member {name!r}: {err}") from None
        if dtype.hasobject or dtype.kind not in _READABLE_KINDS:
            raise self.invalid(
                f"member {name!r} has dtype {dtype}, which holds Python objects or records; "
                "minidl reads files with allow_pickle=False and plain dtypes only"
            )
        if any(d < 0 for d in shape):
            raise self.corrupt(f"member {name!r} has a negative dimension in shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        if header_bytes + nbytes != info.file_size:
            raise self.corrupt(
                f"member {name!r} says shape {shape} of {dtype} ({nbytes} bytes) but holds "
                f"{info.file_size - header_bytes} bytes"
            )
        return shape, dtype, nbytes

    def read(self, key):
        """The array in member ``key``, after :meth:`header`'s checks; CRC-32 verified."""
        self.header(key)
        info = self._infos[key]
        try:
            with self._zip.open(info) as fp:
                array = np.lib.format.read_array(
                    fp, allow_pickle=False, max_header_size=MAX_NPY_HEADER
                )
                if fp.read(1):
                    raise ValueError("data past the declared size")
        except _DAMAGE as err:
            raise self.corrupt(f"member {info.filename!r}: {err}") from None
        return array

    def read_text(self, key, max_bytes=MAX_TEXT_BYTES):
        """Member ``key`` as a string: a unicode array of at most one element or UTF-8 bytes
        (uint8, 1-D), at most ``max_bytes`` long."""
        shape, dtype = self.header(key)
        _, _, nbytes = self._headers[key]
        text_like = dtype.kind == "U" and math.prod(shape) == 1
        bytes_like = dtype == np.uint8 and len(shape) == 1
        if not (text_like or bytes_like):
            raise self.invalid(f"member {key!r} is {dtype} of shape {shape}, not text")
        if nbytes > max_bytes:
            raise self.invalid(f"member {key!r} holds {nbytes} bytes of text, over {max_bytes}")
        array = self.read(key)
        if text_like:
            return str(array.reshape(()))
        try:
            return array.tobytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.corrupt(f"member {key!r} is not UTF-8 text: {err}") from None

    # --- context manager -----------------------------------------------------------------

    def close(self):
        self._zip.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_npy_header(fp):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        read = np.lib.format.read_array_header_1_0
    elif version == (2, 0):
        read = np.lib.format.read_array_header_2_0
    else:
        raise ValueError(f".npy format version {version} is not read (1.0 and 2.0 are)")
    shape, _, dtype = read(fp, max_header_size=MAX_NPY_HEADER)
    return tuple(int(d) for d in shape), dtype


def parse_json(text, where):
    """``json.loads(text)``, or a ``ValueError`` starting with ``where``: invalid JSON, or
    nested deeper than ``MAX_JSON_DEPTH`` (checked without recursion)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply to parse") from None
    except ValueError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return value
