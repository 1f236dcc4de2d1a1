"""Property-based: random corruptions of saved files are refused cleanly or load exactly.

Files written by ``save``, ``save_compressed`` (npz and Deep Compression) and ``write_idx`` (raw
and gzip) are damaged by one to three random edits (truncate, flip bits, overwrite, insert,
delete, append; positions uniform or near either end, where zip and gzip keep their
directories and headers, and the Deep Compression file its header). Every
loader must then either raise a ``ValueError`` whose message names the file, or return
exactly what was saved. Anything else fails the test: a ``MemoryError``, a ``RecursionError``,
a bare ``KeyError``, a silently different model, and, for ``load_weights``, a failed load that
changed the target model (a half-load).

"Exactly": the same layers and the same state, bit for bit (for ``load_compressed``: what the
undamaged file loads to, its int8 weights dequantized). Raw IDX has no checksum, so a flipped
data byte is a different valid file; there the loaded array must be what the damaged file
says, checked by writing it back: ``write_idx(read_idx(f))`` reproduces ``f``'s bytes. The Deep
Compression format has no checksum either, and a damaged Huffman stream can decode to other
symbols, so its property is weaker: refused, or a well-formed model of the saved architecture.

Budget: ``EXAMPLES`` (150) examples per test, six tests, with ``derandomize=True`` so CI runs
the same examples every time (about 25 s on a busy machine). ``MINIDL_FILE_EXAMPLES=5000 pytest
tests/test_files_property.py`` searches further with fresh random examples.
"""

import functools
import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minidl.compression.qat import FakeQuantize, prepare_qat
from minidl.compression.storage import load_compressed, save_compressed
from minidl.datasets import read_idx, write_idx
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential

EXAMPLES = int(os.environ.get("MINIDL_FILE_EXAMPLES", "150"))
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="MINIDL_FILE_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def architectures():
    """Three small models with every kind of state: weights, BatchNorm statistics, a
    FakeQuantize's observed range, QAT-wrapped layers."""
    return [
        lambda: Sequential([Dense(5, 4, rng=0), BatchNorm1D(4), ReLU(), Dense(4, 3, rng=1)]),
        lambda: Sequential(
            [
                Conv2D(1, 2, 3, rng=2),
                BatchNorm2D(2),
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                FakeQuantize(),
                Dense(2, 2, rng=3),
            ]
        ),  # fmt: skip
        lambda: prepare_qat(Sequential([Conv2D(1, 2, 3, rng=4), Flatten(), Dense(8, 2, rng=5)])),
    ]


INPUTS = [(3, 5), (3, 1, 4, 4), (3, 1, 4, 4)]


@functools.cache
def trained(arch):
    model = architectures()[arch]()
    model(np.random.default_rng(arch).normal(size=INPUTS[arch]).astype(np.float32) + 1)
    return model.eval()


_names = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("files")


@functools.cache
def saved_bytes(folder, kind, arch, options=()):
    path = folder / f"original-{next(_names)}.bin"
    if kind == "save":
        trained(arch).save(path)
    else:
        save_compressed(trained(arch), path, **dict(options))
    return path.read_bytes()


def edits(n):
    """One to three edits of a file of ``n`` bytes: (operation, position, bytes)."""
    near_ends = st.one_of(
        st.integers(0, n - 1), st.integers(max(0, n - 200), n - 1), st.integers(0, min(n - 1, 200))
    )
    # a truncation almost always loses a zip's central directory or the gzip trailer (refused
    # at once), so edits inside the file, which test the deeper checks, are drawn more often
    operations = ["flip"] * 3 + ["overwrite"] * 2 + ["insert", "delete", "append", "truncate"]
    edit = st.tuples(
        st.sampled_from(operations),
        near_ends,
        st.binary(min_size=1, max_size=16),
    )
    return st.lists(edit, min_size=1, max_size=3)


def damage(data, ops):
    data = bytearray(data)
    for op, at, blob in ops:
        at = min(at, max(len(data) - 1, 0))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= blob[0] or 1
        elif op == "overwrite":
            data[at : at + len(blob)] = blob
        elif op == "insert":
            data[at:at] = blob
        elif op == "delete":
            del data[at : at + len(blob)]
        elif op == "append":
            data += blob
    return bytes(data)


def write_damaged(folder, data, ops):
    path = folder / f"damaged-{next(_names)}.bin"
    path.write_bytes(damage(data, ops))
    return path


def assert_same_model(a, b):
    assert [type(x) for x in a.layers] == [type(x) for x in b.layers]
    assert [x.get_config() for x in a.layers] == [x.get_config() for x in b.layers]
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype
        np.testing.assert_array_equal(sa[k], sb[k])


def refused_or_exact(load, path, check):
    """``load(path)`` raises a ValueError naming ``path``, or ``check(result)`` holds."""
    try:
        result = load(path)
    except ValueError as err:
        assert str(path) in str(err), str(err)
        event(f"refused: {str(err).split(': ')[1][:40]}")  # see --hypothesis-show-statistics
        return False
    check(result)
    event("loaded exactly")
    return True


@BUDGET
@given(arch=st.integers(0, 2), data=st.data())
def test_load_refuses_or_loads_exactly(folder, arch, data):
    original = saved_bytes(folder, "save", arch)
    path = write_damaged(folder, original, data.draw(edits(len(original))))
    refused_or_exact(Sequential.load, path, lambda m: assert_same_model(m, trained(arch)))
    path.unlink()


@BUDGET
@given(arch=st.integers(0, 2), data=st.data())
def test_load_weights_never_half_loads(folder, arch, data):
    original = saved_bytes(folder, "save", arch)
    path = write_damaged(folder, original, data.draw(edits(len(original))))
    target = architectures()[arch]()
    target(np.zeros(INPUTS[arch], np.float32))  # the data-sized layers get their state too
    before = {k: v.copy() for k, v in target.state_dict().items()}
    if not refused_or_exact(
        target.load_weights, path, lambda _: assert_same_model(target, trained(arch))
    ):
        after = target.state_dict()
        assert list(after) == list(before)
        for k, v in before.items():
            np.testing.assert_array_equal(after[k], v)
    path.unlink()


COMPRESSED_OPTIONS = st.fixed_dictionaries({
    "sparse": st.sampled_from([None, "bitmask", "csr", "auto"]),
    "int8": st.booleans(),
    "compress": st.booleans(),
})  # fmt: skip


@BUDGET
@given(arch=st.integers(0, 2), options=COMPRESSED_OPTIONS, data=st.data())
def test_load_compressed_refuses_or_loads_exactly(folder, arch, options, data):
    options = tuple(sorted(options.items()))
    original = saved_bytes(folder, "save_compressed", arch, options)
    clean = folder / f"clean-{next(_names)}.npz"
    clean.write_bytes(original)
    expected = load_compressed(clean)
    path = write_damaged(folder, original, data.draw(edits(len(original))))
    refused_or_exact(load_compressed, path, lambda m: assert_same_model(m, expected))
    path.unlink()
    clean.unlink()


def assert_well_formed(loaded, original):
    """The architecture and every state array's name, shape and dtype of ``original``; values
    finite (load_state_dict checks it). Not the values themselves: see the test below."""
    assert [x.get_config() for x in loaded.layers] == [x.get_config() for x in original.layers]
    sa, sb = loaded.state_dict(), original.state_dict()
    assert {k: (v.shape, v.dtype) for k, v in sa.items()} == {
        k: (v.shape, v.dtype) for k, v in sb.items()
    }


@BUDGET
@given(arch=st.integers(0, 2), coding=st.sampled_from(["huffman", "fixed"]), data=st.data())
def test_deep_compression_refuses_or_loads_a_well_formed_model(folder, arch, coding, data):
    # The Deep Compression format (issue 18) has no checksum: a flipped bit in a float32 value
    # or a Huffman stream can decode to other numbers, which load. So here the promise is the
    # loader's own: a ValueError naming the file, or a model of the saved architecture with
    # well-formed state, never another exception; undamaged, it loads exactly (a test of its own).
    options = (("coding", coding), ("format", "deep_compression"))
    original = saved_bytes(folder, "save_compressed", arch, options)
    path = write_damaged(folder, original, data.draw(edits(len(original))))
    refused_or_exact(load_compressed, path, lambda m: assert_well_formed(m, trained(arch)))
    path.unlink()


IDX_ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
)


@BUDGET
@given(array=IDX_ARRAYS, data=st.data())
def test_read_idx_gzip_refuses_or_reads_exactly(folder, array, data):
    original = write_idx(folder / f"a-{next(_names)}.idx.gz", array)
    path = write_damaged(folder, original.read_bytes(), data.draw(edits(original.stat().st_size)))

    def same(got):
        assert got.dtype == array.dtype and got.shape == array.shape
        assert got.tobytes() == array.tobytes()

    refused_or_exact(read_idx, path, same)
    path.unlink()
    original.unlink()


@BUDGET
@given(array=IDX_ARRAYS, data=st.data())
def test_read_idx_raw_refuses_or_reads_what_the_file_says(folder, array, data):
    original = write_idx(folder / f"a-{next(_names)}.idx", array)
    path = write_damaged(folder, original.read_bytes(), data.draw(edits(original.stat().st_size)))
    damaged = path.read_bytes()

    def what_the_file_says(got):  # no checksum in raw IDX: writing back gives the same bytes
        back = write_idx(folder / f"back-{next(_names)}.idx", got)
        assert back.read_bytes() == damaged
        back.unlink()

    refused_or_exact(read_idx, path, what_the_file_says)
    path.unlink()
    original.unlink()
