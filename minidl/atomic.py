"""Atomic file writes: every file minidl writes appears whole, or not at all.

``atomic_write(path, write)`` is the one way minidl writes a file (``Sequential.save``,
``save_compressed``, ``write_idx``, the conformance kit's golden files):

1. the bytes go to a new temporary file in the target's folder, created exclusively
   (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a unique name, so a file or symlink planted at
   some name cannot redirect the write and two writers never share a temporary file;
2. the data is flushed and ``fsync``-ed, then ``os.replace`` renames it over the target in
   one step (the folder is ``fsync``-ed too, where the file system allows it);
3. on any failure (an exception in ``write``, a full disk, a failed rename, Ctrl-C) the
   temporary file is removed and the target is left as it was.

Permissions are those ``open(path, 'w')`` gives: ``0o666`` less the umask for a new file (the
kernel applies the umask; nothing reads or changes it), the old file's permission bits when the
target exists, or exactly ``mode`` when given.

Temporary files are named ``.<target>.minidl-tmp-<host>-<pid>-<random>``: hidden, recognisable,
and never matching ``*.npz``. A process killed mid-write (SIGKILL cannot be caught) leaves its
temporary file behind; the next ``atomic_write`` into that folder on the same machine removes
every such file whose writing process is gone.
"""

import contextlib
import hashlib
import os
import re
import secrets
import socket
import stat

TEMP_TAG = ".minidl-tmp-"
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_TEMP_RE = re.compile(r"^\..*\.minidl-tmp-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}$")
_NAME_KEEP = 100  # characters of the target's name kept in the temporary name (NAME_MAX 255)


def temp_name(target_name):
    """A fresh temporary name for ``target_name`` (see the module docstring)."""
    token = secrets.token_hex(4)
    return f".{target_name[:_NAME_KEEP]}{TEMP_TAG}{_HOST}-{os.getpid()}-{token}"


def atomic_write(path, write, mode=None):
    """Write the file ``path`` with ``write(f)`` (``f``: a binary file object), atomically.

    Returns ``path`` as a string. Raises ``FileNotFoundError`` when the folder does not exist
    and ``IsADirectoryError`` when ``path`` is a folder, before anything is written. A symlink
    at ``path`` is replaced by the new file (its target is not written through).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a folder")
    remove_stale_temp_files(folder)
    if mode is None:
        mode = _existing_mode(path)
    fd, tmp = _create_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return path


def _existing_mode(path):
    """The permission bits of the regular file at ``path``, or None (new file: umask rules)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_mode & 0o777 if stat.S_ISREG(st.st_mode) else None


def _create_temp(folder, target_name):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, temp_name(target_name))
        try:
            return os.open(tmp, flags, 0o666), tmp  # the kernel applies the umask
        except FileExistsError:
            continue  # 2^32 names: only a planted file gets here; take another
    raise FileExistsError(f"could not create a temporary file in {folder!r}")


def _fsync_folder(folder):
    """Make the rename durable; some file systems refuse to open or sync a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temp_files(folder):
    """Remove this machine's minidl temporary files in ``folder`` whose writer has exited.

    A temporary file of a live process (another writer at work) is kept, and so is any file
    from another machine (a shared folder) or any file that is not a plain file. Returns the
    names removed. POSIX only: elsewhere there is no safe way to ask whether a pid lives.
    """
    if os.name != "posix":
        return []
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if not match or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            pass  # removed by another writer meanwhile, or not ours to remove
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only the existence check
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or a pid the OS cannot hold): keep
    return True
