r"""Sparse positions as relative indices with filler zeros (Deep Compression, §2 and Figure 2).

A pruned tensor, flattened in C order, keeps its nonzeros at positions :math:`p_1 < p_2 <
\dots`. Instead of absolute positions, the paper stores the differences
:math:`d_i = p_i - p_{i-1}` (with :math:`p_0 = -1` here, the position before the first) in
:math:`b_{idx}` bits, so :math:`1 \le d \le 2^{b_{idx}}` and the stored code is
:math:`d - 1 \in [0, 2^{b_{idx}} - 1]`. When a gap exceeds :math:`2^{b_{idx}}`, a *filler* entry
is put :math:`2^{b_{idx}}` positions further, holding the weight 0, as often as needed. (The
paper's Figure 2, 3-bit: nonzeros at 1-based positions 1, 4 and 15 become the differences
1, 3, 8, 3 and the values 3.4, 0.9, 0, 1.7.)

The differences run across rows: the tensor is one stream and needs no row pointers (the
decoder knows the tensor's size from its shape). A filler's weight is a pruned position, so
its weight symbol is the zero index, the same as any pruned weight.

:func:`to_relative` is vectorized; :func:`to_relative_naive` is the loop over the positions
and the tests hold the two equal; :func:`from_relative` inverts them.
"""

import numpy as np


def _check_index_bits(index_bits):
    if isinstance(index_bits, bool) or not isinstance(index_bits, (int, np.integer)):
        raise TypeError(f"index_bits must be an int in [1, 16], got {index_bits!r}")
    if not 1 <= index_bits <= 16:
        raise ValueError(f"index_bits must be in [1, 16], got {index_bits}")
    return int(index_bits)


def _check_positions(positions):
    p = np.asarray(positions)
    if p.ndim != 1 or (p.size and not np.issubdtype(p.dtype, np.integer)):
        raise TypeError(f"positions must be a 1-D integer array, got {p.dtype} {p.shape}")
    p = p.astype(np.int64)
    if p.size and (p[0] < 0 or (np.diff(p) <= 0).any()):
        raise ValueError("positions must be >= 0 and strictly increasing")
    return p


def to_relative(positions, index_bits):
    r"""``(codes, entries)`` for sorted nonzero ``positions``: ``codes[e] = d_e - 1`` of each
    entry, fillers included, and ``entries`` the absolute position of each entry.

    A nonzero after a gap :math:`d` is preceded by :math:`\lfloor (d - 1) / 2^{b} \rfloor`
    fillers, each :math:`2^b` after the one before; one ``np.repeat`` lays them all out.
    """
    positions = _check_positions(positions)
    span = 2 ** _check_index_bits(index_bits)
    gaps = np.diff(positions, prepend=-1)
    n_fill = (gaps - 1) // span
    per = n_fill + 1  # entries per nonzero: its fillers, then itself
    group_start = np.cumsum(per) - per
    rank = np.arange(per.sum()) - np.repeat(group_start, per) + 1  # 1..per inside a group
    entries = np.repeat(positions - gaps, per) + rank * span  # p_{i-1} + r 2^b: the fillers
    entries[group_start + per - 1] = positions  # the last of each group is the nonzero
    codes = np.diff(entries, prepend=-1) - 1
    return codes.astype(np.int64), entries


def to_relative_naive(positions, index_bits):
    """:func:`to_relative` as a loop: step ``2**index_bits`` with a filler while the gap is
    too wide, then step to the nonzero."""
    span = 2**index_bits
    codes, entries, prev = [], [], -1
    for p in positions:
        while p - prev > span:
            prev += span
            codes.append(span - 1)
            entries.append(prev)
        codes.append(p - prev - 1)
        entries.append(p)
        prev = p
    return np.array(codes, dtype=np.int64), np.array(entries, dtype=np.int64)


def from_relative(codes, size):
    """Entry positions from the stored ``codes`` (:math:`p_e = \\sum_{e' \\le e} (c_{e'} + 1) - 1`),
    checked to fall inside a tensor of ``size`` entries."""
    codes = np.asarray(codes, dtype=np.int64)
    entries = np.cumsum(codes + 1) - 1
    if entries.size and (codes.min() < 0 or entries[-1] >= size):
        raise ValueError(f"relative indices run past the tensor's {size} entries (corrupt file?)")
    return entries
