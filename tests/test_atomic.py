"""Atomic writes (minidl/atomic.py) through every writer: save, save_compressed (both formats),
write_idx.

Unique temporary names that a planted symlink cannot redirect, no torn reads under concurrent
writers, no temporary file left after any failure, one permission rule for every writer with
no umask juggling, and stale temporary files of killed writers removed by the next save.
"""

import os
import re
import stat
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from minidl.compression.storage import save_compressed
from minidl.datasets import read_idx, write_idx
from minidl.layers.dense import Dense
from minidl.nn.model import Sequential


def model(seed=0):
    return Sequential([Dense(4, 3, rng=seed)])


WRITERS = {
    "save": lambda path: model().save(path),
    "save_compressed": lambda path: save_compressed(model(), path),
    "deep_compression": lambda path: save_compressed(model(), path, format="deep_compression"),
    "write_idx": lambda path: write_idx(path, np.arange(12, dtype=np.uint8).reshape(3, 4)),
}


@pytest.fixture
def umask_027():
    """Run with umask 0o027 (set once by the test, never read by minidl)."""
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_gives_the_permissions_of_open(tmp_path, writer, umask_027, monkeypatch):
    # before: save read the umask by setting it to 0 for a moment (a race with other threads)
    # and save_compressed left mkstemp's 0600
    def no_umask(*args):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", no_umask)
    path = tmp_path / "f.bin"
    WRITERS[writer](path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~0o027


@pytest.mark.parametrize("writer", list(WRITERS))
def test_overwriting_keeps_the_files_permissions(tmp_path, writer):
    path = tmp_path / "f.bin"
    WRITERS[writer](path)
    path.chmod(0o600)
    WRITERS[writer](path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_idx_does_not_write_through_a_planted_symlink(tmp_path):
    # before: write_idx wrote to the fixed name '<path>.tmp', so a symlink there redirected
    # the bytes into any file the writer could write
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "labels.idx"
    (tmp_path / "labels.idx.tmp").symlink_to(victim)
    write_idx(path, np.arange(5, dtype=np.uint8))
    assert victim.read_text() == "precious"
    np.testing.assert_array_equal(read_idx(path), np.arange(5))


def test_temp_names_are_unique_hidden_and_recognisable():
    from minidl.atomic import temp_name

    names = {temp_name("model.npz") for _ in range(1000)}
    assert len(names) == 1000
    for name in list(names)[:5]:
        assert re.fullmatch(r"\.model\.npz\.minidl-tmp-[0-9a-f]{8}-\d+-[0-9a-f]{8}", name)
        assert not name.endswith(".npz")
    assert len(temp_name("x" * 255)) < 160  # stays under NAME_MAX whatever the target's name


def test_concurrent_writers_never_give_a_reader_half_a_file(tmp_path):
    # before: four threads wrote through the same '<path>.tmp': readers met truncated files
    # and FileNotFoundError when one writer renamed another's half-written file
    path = tmp_path / "x.idx"
    arrays = [np.full(200_000, i, dtype=np.uint8) for i in range(4)]
    write_idx(path, arrays[0])
    errors, reads, done = [], [], threading.Event()

    def writer(i):
        try:
            for _ in range(25):
                write_idx(path, arrays[i])
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    def reader():
        while not done.is_set():
            try:
                a = read_idx(path)
                if a.shape != (200_000,) or not (a == a[0]).all():
                    errors.append(f"a mixed file: {a.shape}")
                reads.append(int(a[0]))
            except Exception as err:  # noqa: BLE001
                errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads + readers:
        t.start()
    for t in threads:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors, errors[:3]
    assert reads and set(reads) <= {0, 1, 2, 3}
    assert sorted(os.listdir(tmp_path)) == ["x.idx"]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, writer, monkeypatch):
    # before: write_idx left '<path>.tmp' behind when the rename failed
    path = tmp_path / "f.bin"
    WRITERS[writer](path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename refused"):
        WRITERS[writer](path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["f.bin"]


def test_an_interrupt_inside_the_write_keeps_the_target(tmp_path):
    from minidl.atomic import atomic_write

    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def write(f):
        f.write(b"new, but")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, write)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_missing_folder_and_folder_as_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .* does not exist"):
        model().save(tmp_path / "nowhere" / "m.npz")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        model().save(tmp_path)
    assert os.listdir(tmp_path) == []


KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from minidl.layers.dense import Dense
    from minidl.nn.model import Sequential

    def savez_then_die(f, **arrays):
        f.write(b"x" * 100_000)
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    np.savez = savez_then_die
    Sequential([Dense(4, 3)]).save(sys.argv[1])
    """
)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")
def test_the_next_save_removes_temporaries_of_killed_writers(tmp_path):
    # before: every SIGKILL left a hidden '.tmp-XXXXXXXX.npz' forever (30 kills: 464 MiB)
    for i in range(3):
        out = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(tmp_path / f"m{i}.npz")])
        assert out.returncode == -9
    # each killed save's temporary file was removed by the next save; the last one stays
    (leftover,) = os.listdir(tmp_path)
    assert ".m2.npz.minidl-tmp-" in leftover
    from minidl.atomic import remove_stale_temp_files, temp_name

    live = tmp_path / temp_name("other.npz")  # this process's own: a writer still at work
    live.write_bytes(b"in progress")
    model().save(tmp_path / "fresh.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(["fresh.npz", live.name])
    assert remove_stale_temp_files(tmp_path) == []
