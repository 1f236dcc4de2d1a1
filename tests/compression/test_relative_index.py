"""Relative sparse indices with filler zeros: the paper's Figure 2 by hand, the loop twin, and
the inverse."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.compression.relative_index import from_relative, to_relative, to_relative_naive


def test_paper_figure_2():
    # Han et al. 2016, Figure 2 (3-bit indices): nonzeros 3.4, 0.9, 1.7 at 1-based positions
    # 1, 4, 15 are stored as differences 1, 3, 8, 3 with a filler 0 at position 12, since the
    # gap 15 - 4 = 11 exceeds 8. 0-based here, and the code stored is the difference - 1.
    codes, entries = to_relative(np.array([0, 3, 14]), 3)
    assert list(codes + 1) == [1, 3, 8, 3]
    assert list(entries) == [0, 3, 11, 14]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), size=st.integers(1, 600), bits=st.integers(1, 8),
       density=st.floats(0.0, 1.0))  # fmt: skip
def test_vectorized_equals_loop_and_inverts(seed, size, bits, density):
    rng = np.random.default_rng(seed)
    positions = np.flatnonzero(rng.random(size) < density)
    codes, entries = to_relative(positions, bits)
    loop_codes, loop_entries = to_relative_naive(positions.tolist(), bits)
    assert np.array_equal(codes, loop_codes) and np.array_equal(entries, loop_entries)
    assert codes.min(initial=0) >= 0 and codes.max(initial=0) < 2**bits  # fits in `bits`
    assert np.array_equal(from_relative(codes, size), entries)
    # every nonzero is an entry; the other entries (fillers) are exactly 2^bits apart
    assert np.isin(positions, entries).all()
    fillers = ~np.isin(entries, positions)
    assert np.all(codes[fillers] == 2**bits - 1)
    assert fillers.sum() == sum((g - 1) // 2**bits for g in np.diff(positions, prepend=-1))


def test_bad_inputs():
    with pytest.raises(ValueError, match="increasing"):
        to_relative(np.array([3, 2]), 4)
    with pytest.raises(ValueError, match="index_bits"):
        to_relative(np.array([1]), 0)
    with pytest.raises(TypeError, match="positions"):
        to_relative(np.array([0.5]), 4)
    with pytest.raises(ValueError, match="past the tensor"):
        from_relative(np.array([3, 7]), 10)
