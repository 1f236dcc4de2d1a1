"""Huffman coding: a textbook's published figure, optimality against a brute-force search over
all prefix-code lengths, Kraft's equality and the prefix property, the entropy bound, and exact
encode -> decode on random and real data (vectorized and loop versions agreeing bit for bit)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.compression.huffman import (
    HuffmanCode,
    canonical_codes,
    decode,
    decode_naive,
    encode,
    encode_naive,
    entropy_bits,
    table_from_bytes,
    table_to_bytes,
)
from minidl.datasets import load_mnist


def test_clrs_figure_16_3():
    # Cormen et al., Introduction to Algorithms (3rd ed.), §16.3: a 100,000-character file with
    # frequencies a:45 b:13 c:12 d:16 e:9 f:5 (thousands) takes 224,000 bits with Huffman's
    # code (a: 1 bit; b, c, d: 3 bits; e, f: 4 bits), against 300,000 bits at 3 bits a character
    freqs = np.array([45, 13, 12, 16, 9, 5]) * 1000
    code = HuffmanCode.from_freqs(freqs)
    assert list(code.lengths) == [1, 3, 3, 3, 4, 4]
    assert int((code.lengths * freqs).sum()) == 224_000


def _brute_force_cost(freqs):
    """Least sum f_s l_s over all length vectors with Kraft sum <= 1 (every prefix code)."""
    n = len(freqs)
    best = None
    for lengths in itertools.product(range(1, n), repeat=n):
        if sum(2.0 ** -l for l in lengths) <= 1:
            cost = sum(f * l for f, l in zip(freqs, lengths, strict=True))
            best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=2, max_size=6))
def test_huffman_is_optimal_against_brute_force(freqs):
    code = HuffmanCode.from_freqs(np.array(freqs))
    assert int((code.lengths * np.array(freqs)).sum()) == _brute_force_cost(freqs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=70))
def test_kraft_equality_and_prefix_free(freqs):
    freqs = np.array(freqs)
    if (freqs > 0).sum() < 2:
        freqs[:2] += 1
    code = HuffmanCode.from_freqs(freqs)
    present = np.flatnonzero(freqs)
    assert np.array_equal(np.flatnonzero(code.lengths), present)
    # a Huffman tree is full: sum 2^-l = 1 exactly (lengths <= 70, so exact in fractions)
    assert sum(2 ** (int(code.lengths.max()) - int(code.lengths[s])) for s in present) == 2 ** int(
        code.lengths.max()
    )
    words = [format(int(c), f"0{int(code.lengths[s])}b") for s, c in
             zip(present, canonical_codes(code.lengths)[present], strict=True)]  # fmt: skip
    for a, b in itertools.permutations(words, 2):
        assert not b.startswith(a)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 256), m=st.integers(1, 3000))
def test_entropy_bound_and_round_trip(seed, n, m):
    rng = np.random.default_rng(seed)
    symbols = rng.choice(n, size=m, p=rng.dirichlet(np.full(n, 0.3)))
    code = HuffmanCode.from_symbols(symbols, n)
    data, n_bits = encode(symbols, code)
    h = entropy_bits(symbols)
    if len(np.unique(symbols)) == 1:
        assert n_bits == 0 and h == 0  # one symbol: 0 bits, the count is stored anyway
    else:
        assert h - 1e-12 <= n_bits / m < h + 1  # Shannon's bound for an optimal prefix code
    assert np.array_equal(decode(data, m, code), symbols)
    assert np.array_equal(decode_naive(data, m, code), symbols)
    naive_data, naive_bits = encode_naive(symbols, code)
    assert naive_bits == n_bits and np.array_equal(naive_data, data)
    assert len(data) == -(-n_bits // 8)


def test_round_trip_on_real_data():
    # MNIST pixels in 16 grey levels: a very skewed source (most pixels are 0)
    X, _ = load_mnist(scale=False)
    symbols = (X[:300].ravel() // 16).astype(np.int64)
    code = HuffmanCode.from_symbols(symbols, 16)
    data, n_bits = encode(symbols, code)
    assert np.array_equal(decode(data, symbols.size, code), symbols)
    h = entropy_bits(symbols)
    assert h <= n_bits / symbols.size < h + 1 and n_bits / symbols.size < 4 / 2


def test_table_bytes_round_trip_and_size(rng):
    symbols = rng.choice(40, size=500, p=rng.dirichlet(np.ones(40)))
    code = HuffmanCode.from_symbols(symbols, 64)
    table = table_to_bytes(code)
    top, n_codes = int(code.lengths.max()), len(np.unique(symbols))
    assert table.size == 3 + 2 * top + n_codes
    back, used = table_from_bytes(table, 64)
    assert used == table.size and np.array_equal(back.lengths, code.lengths)
    single = HuffmanCode.from_symbols(np.full(9, 5), 8)
    back, used = table_from_bytes(table_to_bytes(single), 8)
    assert used == 4 and back.single == 5


def test_corrupt_and_bad_inputs(rng):
    symbols = rng.integers(0, 6, size=100)
    code = HuffmanCode.from_symbols(symbols, 6)
    data, _ = encode(symbols, code)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        decode(data[: len(data) // 2], 100, code)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        decode_naive(data[: len(data) // 2], 100, code)
    with pytest.raises(ValueError, match="no code"):
        encode(np.array([0, 1]), HuffmanCode.from_freqs(np.array([0, 3, 4])))
    with pytest.raises(ValueError, match="alphabet"):
        HuffmanCode.from_symbols(np.array([7]), 4)
    with pytest.raises(TypeError, match="symbols"):
        HuffmanCode.from_symbols(np.array([0.5]), 4)
    with pytest.raises(ValueError, match="freqs"):
        HuffmanCode.from_freqs(np.array([1, -2]))
    with pytest.raises(TypeError, match="code"):
        encode(symbols, code.lengths)
    with pytest.raises(ValueError, match="table"):
        table_from_bytes(table_to_bytes(code)[:4], 6)
