r"""Huffman coding (Huffman 1952), canonical form, as Deep Compression's third stage (§4).

A symbol of probability :math:`p_s` gets a code of :math:`l_s` bits; Huffman's construction
(merge the two lightest subtrees, repeatedly, with a heap) minimizes the mean length
:math:`\bar L = \sum_s p_s l_s` among prefix codes, and

.. math:: H = -\sum_s p_s \log_2 p_s \;\le\; \bar L \;<\; H + 1

(entropy bound; with one symbol only, minidl gives it a code of 0 bits, since the count of
symbols is stored anyway). Only the lengths are kept: the *canonical* code assigns, in order of
(length, symbol), consecutive binary numbers, so the decoder rebuilds every code from the
lengths, and the stored table is the number of codes of each length plus the symbols in that
order (:func:`table_to_bytes`; DEFLATE and JPEG store theirs so).

Bits are packed most significant first (``np.packbits``). :func:`encode` / :func:`decode` are
vectorized (the decoder finds every code length at once from the left-justified limits of the
canonical code, then walks the stream); :func:`encode_naive` / :func:`decode_naive` are the
same code as string concatenation and a bit-by-bit walk, and the tests hold them equal.
"""

import dataclasses
import heapq

import numpy as np

MAX_CODE_LENGTH = 57  # the decoder's windows are uint64; Huffman on < 2**32 symbols stays < 47


def _check_symbols(symbols, n_symbols=None):
    s = np.asarray(symbols)
    if s.ndim != 1 or (s.size and not np.issubdtype(s.dtype, np.integer)):
        raise TypeError(f"symbols must be a 1-D integer array, got {s.dtype} of shape {s.shape}")
    s = s.astype(np.int64)
    if s.size and s.min() < 0:
        raise ValueError(f"symbols must be >= 0, got {s.min()}")
    if n_symbols is not None and s.size and s.max() >= n_symbols:
        raise ValueError(f"symbols must be < {n_symbols} (the alphabet size), got {s.max()}")
    return s


@dataclasses.dataclass(frozen=True)
class HuffmanCode:
    """A canonical prefix code: ``lengths[s]`` bits for symbol ``s`` (0: ``s`` has no code).

    ``single`` is the symbol of a one-symbol alphabet, coded in 0 bits (then every length is
    0); otherwise None.
    """

    lengths: np.ndarray
    single: int | None = None

    @classmethod
    def from_freqs(cls, freqs):
        """Huffman's code for the counts ``freqs[s]`` (see :func:`code_lengths`)."""
        freqs = np.asarray(freqs)
        present = np.flatnonzero(freqs > 0) if freqs.ndim == 1 else []
        lengths = code_lengths(freqs)
        return cls(lengths, int(present[0]) if len(present) == 1 else None)

    @classmethod
    def from_symbols(cls, symbols, n_symbols):
        """Huffman's code for the symbol counts of ``symbols`` over an alphabet of ``n_symbols``."""
        return cls.from_freqs(np.bincount(_check_symbols(symbols, n_symbols), minlength=n_symbols))

    def coded_bits(self, symbols):
        """Total bits of ``symbols`` coded with this code."""
        return int(np.asarray(self.lengths)[_check_symbols(symbols, len(self.lengths))].sum())


def code_lengths(freqs):
    """Huffman code length of each symbol from its count ``freqs[s]`` (0 for absent symbols).

    The heap holds ``(weight, tie, leaves)``; the two lightest are merged until one is left
    (ties go to the smaller ``tie``: leaves by symbol, then merged nodes in creation order, so
    the code is deterministic). A symbol's length is its depth in the final tree; a lone
    symbol has depth 0.
    """
    freqs = np.asarray(freqs)
    if freqs.ndim != 1 or not np.issubdtype(freqs.dtype, np.integer) or (freqs < 0).any():
        raise ValueError(f"freqs must be a 1-D integer array of counts >= 0, got {freqs!r}")
    lengths = np.zeros(len(freqs), dtype=np.int64)
    heap = [(int(f), s, [s]) for s, f in enumerate(freqs) if f > 0]
    heapq.heapify(heap)
    tie = len(freqs)
    while len(heap) > 1:
        w1, _, leaves1 = heapq.heappop(heap)
        w2, _, leaves2 = heapq.heappop(heap)
        lengths[leaves1 + leaves2] += 1  # every leaf under the new node gets one bit deeper
        heapq.heappush(heap, (w1 + w2, tie, leaves1 + leaves2))
        tie += 1
    if lengths.max(initial=0) > MAX_CODE_LENGTH:
        raise ValueError(f"a code of {lengths.max()} bits exceeds {MAX_CODE_LENGTH}")
    return lengths


def canonical_codes(lengths):
    """The canonical code for ``lengths``: ``codes[s]`` is an int of ``lengths[s]`` bits.

    Symbols sorted by (length, symbol) get consecutive codes; when the length grows by
    :math:`d`, the next code is shifted left by :math:`d` (``code = (code + 1) << d``).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, prev_len = -1, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code = (code + 1) << int(lengths[s] - prev_len)
        prev_len = int(lengths[s])
        codes[s] = code
    return codes


def entropy_bits(symbols):
    r"""Empirical entropy :math:`H = -\sum_s p_s \log_2 p_s` in bits per symbol."""
    counts = np.bincount(_check_symbols(symbols))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _check_code(code):
    if not isinstance(code, HuffmanCode):
        raise TypeError(f"code must be a HuffmanCode, got {type(code).__name__}")
    return np.asarray(code.lengths, dtype=np.int64)


def encode(symbols, code):
    """Pack the codes of ``symbols`` MSB first; returns ``(uint8 bytes, number of bits)``.

    Vectorized: each symbol's code is spread into its bits with one shift per bit position,
    the bits kept where the position is inside the code, then ``np.packbits``.
    """
    lengths = _check_code(code)
    s = _check_symbols(symbols, len(lengths))
    if code.single is not None:
        if s.size and (s != code.single).any():
            raise ValueError(f"symbols has symbols other than {code.single}, the code's only one")
        return np.zeros(0, np.uint8), 0
    if s.size and (lengths[s] == 0).any():
        raise ValueError("symbols has a symbol with no code (frequency 0 when it was built)")
    codes, lens = canonical_codes(lengths)[s], lengths[s]
    width = int(lens.max(initial=0))
    shifts = lens[:, None] - 1 - np.arange(width)[None, :]  # bit j of a code: shift len-1-j
    bits = (codes[:, None] >> np.maximum(shifts, 0).astype(np.uint64)) & np.uint64(1)
    bits = bits.astype(np.uint8)[shifts >= 0]  # row-major: the codes one after the other
    return np.packbits(bits), int(lens.sum())


def encode_naive(symbols, code):
    """:func:`encode` by concatenating each code as a string of '0'/'1', then bytes."""
    lengths = _check_code(code)
    codes = canonical_codes(lengths)
    text = "".join(format(int(codes[s]), f"0{int(lengths[s])}b") for s in symbols)
    if code.single is not None:
        text = ""
    padded = text + "0" * (-len(text) % 8)
    data = bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))
    return np.frombuffer(data, dtype=np.uint8), len(text)


def _canonical_tables(lengths):
    """Symbols in canonical order, and per length l = 0..L: count, first code, offset."""
    order = np.array(sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)), dtype=np.int64)
    top = int(lengths.max(initial=0))
    count = np.bincount(lengths[order], minlength=top + 1)
    count[0] = 0
    first, offset = np.zeros(top + 1, np.int64), np.zeros(top + 1, np.int64)
    for n in range(2, top + 1):
        first[n] = (first[n - 1] + count[n - 1]) << 1
        offset[n] = offset[n - 1] + count[n - 1]
    return order, count, first, offset, top


def _corrupt():
    return ValueError("the Huffman stream is truncated or corrupt")


def decode(data, n_symbols, code):
    """Decode ``n_symbols`` symbols from the packed bits ``data`` (inverse of :func:`encode`).

    For the canonical code the left-justified limits :math:`U_l = (first_l + count_l)
    \\ll (L - l)` grow with :math:`l`, and a code starting at bit :math:`p` has length
    :math:`\\min\\{l : window_p < U_l\\}`, where :math:`window_p` is the :math:`L` bits from
    :math:`p`. So the length and symbol at *every* bit position come out of array operations;
    the walk :math:`p \\leftarrow p + l_p` is the only loop.
    """
    lengths = _check_code(code)
    if code.single is not None or n_symbols == 0:
        return np.full(n_symbols, code.single or 0, dtype=np.int64)
    order, count, first, offset, top = _canonical_tables(lengths)
    if top == 0:
        raise ValueError("the code has no symbols, but symbols were asked for")
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8))
    padded = np.concatenate([bits, np.zeros(top, np.uint8)]).astype(np.uint64)
    window = np.zeros(bits.size, dtype=np.uint64)
    for j in range(top):
        window = (window << np.uint64(1)) | padded[j : j + bits.size]
    ls = np.arange(1, top + 1)
    limits = ((first[1:] + count[1:]) << (top - ls)).astype(np.uint64)
    length_at = np.minimum(np.searchsorted(limits, window, side="right") + 1, top)
    prefix = (window >> (top - length_at).astype(np.uint64)).astype(np.int64)
    rank = (offset[length_at] + prefix - first[length_at]).tolist()
    length_at = length_at.tolist()
    out, p, n_codes, n_bits = [], 0, len(order), bits.size
    for _ in range(n_symbols):
        if p >= n_bits or not 0 <= rank[p] < n_codes:
            raise _corrupt()
        out.append(rank[p])
        p += length_at[p]
    if p > n_bits:
        raise _corrupt()
    return order[np.array(out, dtype=np.int64)]


def decode_naive(data, n_symbols, code):
    """:func:`decode` bit by bit: extend the code one bit at a time until it is a valid code
    of the current length (``0 <= code - first[l] < count[l]``)."""
    lengths = _check_code(code)
    if code.single is not None or n_symbols == 0:
        return np.full(n_symbols, code.single or 0, dtype=np.int64)
    order, count, first, offset, top = _canonical_tables(lengths)
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8)).tolist()
    out, p = [], 0
    for _ in range(n_symbols):
        value, length = 0, 0
        while True:
            if p >= len(bits) or length >= top:
                raise _corrupt()
            value, length, p = (value << 1) | bits[p], length + 1, p + 1
            if 0 <= value - first[length] < count[length]:
                out.append(int(order[offset[length] + value - first[length]]))
                break
    return np.array(out, dtype=np.int64)


def table_to_bytes(code):
    """The canonical table in bytes: ``uint16 n_codes, uint8 L, uint16 count[1..L]`` (little
    endian), then the symbols (uint8) in canonical order; a one-symbol code is ``n_codes = 1,
    L = 0`` and its symbol. :math:`3 + 2L + n` bytes."""
    lengths = _check_code(code)
    if len(lengths) > 256:
        raise ValueError(f"the table stores symbols as bytes: alphabet <= 256, got {len(lengths)}")
    if code.single is not None:
        return np.array([1, 0, 0, code.single], dtype=np.uint8)
    order, count, _, _, top = _canonical_tables(lengths)
    head = np.array([len(order)], "<u2").view(np.uint8)
    counts = np.asarray(count[1:], "<u2").view(np.uint8)
    return np.concatenate([head, [top], counts, order]).astype(np.uint8)


def table_from_bytes(buf, n_symbols):
    """Inverse of :func:`table_to_bytes`: ``(HuffmanCode over n_symbols, bytes read)``."""
    buf = np.asarray(buf, dtype=np.uint8)
    if buf.size < 3:
        raise ValueError("Huffman table truncated")
    n_codes, top = int(buf[:2].view("<u2")[0]), int(buf[2])
    end = 3 + 2 * top + n_codes
    if buf.size < end:
        raise ValueError("Huffman table truncated")
    symbols = buf[3 + 2 * top : end].astype(np.int64)
    if (symbols >= n_symbols).any() or len(np.unique(symbols)) != n_codes:
        raise ValueError(f"Huffman table corrupt: symbols not distinct or not < {n_symbols}")
    if top == 0:
        if n_codes > 1:
            raise ValueError("Huffman table corrupt: several symbols with 0-bit codes")
        return HuffmanCode(np.zeros(n_symbols, np.int64), int(symbols[0]) if n_codes else None), end
    count = buf[3 : 3 + 2 * top].view("<u2").astype(np.int64)
    if count.sum() != n_codes:
        raise ValueError("Huffman table corrupt: counts do not add up to the symbols")
    lengths = np.zeros(n_symbols, np.int64)
    lengths[symbols] = np.repeat(np.arange(1, top + 1), count)
    return HuffmanCode(lengths), end
