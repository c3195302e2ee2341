"""Atomic file writing: a reader (or a crash) sees the old file or the new one, never a part.

:func:`atomic_write` writes to a temporary file in the destination's folder, flushes and
``fsync`` s it, renames it over the destination (``os.replace``, atomic on POSIX and
Windows) and ``fsync`` s the folder so that the rename survives a power cut. On any
error, ``KeyboardInterrupt`` included, the temporary file is removed and the destination
is untouched; ``OSError`` s name the destination, not the temporary file.

Permissions follow the user's umask: a new file gets ``0o666 & ~umask`` (the kernel
applies the umask and any default ACL, as for ``open(path, "w")``); replacing an existing
file keeps that file's mode bits. Writing through a symbolic link replaces the file it
points to and keeps the link. Destinations that are not regular files (``/dev/null``,
FIFOs) are written in place, as ``open`` would.

Leftover temporaries. A process killed mid-write (``SIGKILL``, power cut) leaves its
temporary file behind, named ``.<name>.<host>-<pid>-<random>.mge-tmp`` beside the
destination ``<name>`` (``<name>`` cut to 100 characters, ``<host>`` 8 hex digits of a
hash of the host name, ``<pid>`` the writer's process id). The next write to the same
destination from the same host removes those whose process no longer exists; a live
writer's temporary is never touched, and temporaries of other hosts (shared network
folders) are left alone. Writers that make a new name for every file (numbered parts)
clean the whole folder with :func:`remove_stale_temporaries_in`. Readers never look at
these names.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.bin")
    >>> with atomic_write(path) as f:
    ...     _ = f.write(b"new contents")
    >>> open(path, "rb").read()
    b'new contents'
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from typing import BinaryIO

#: suffix of every temporary file (see the module docstring for the whole name)
TEMP_SUFFIX = ".mge-tmp"
#: at most this many characters of the destination's name go into a temporary's name
_NAME_CHARS = 100
_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()

StrPath = str | os.PathLike


#: the end of this host's temporaries' names (after ``.<name>.``); group 1 is the pid
_TAIL = re.compile(re.escape(_HOST) + r"-(\d+)-[0-9a-f]{16}" + re.escape(TEMP_SUFFIX))
#: this host's temporaries of any destination; group 1 is the pid
_ANY_TEMP = re.compile(r"\..+\." + _TAIL.pattern, re.DOTALL)


def _temp_prefix(name: str) -> str:
    """How the names of the temporaries for destination ``name`` begin."""
    return f".{name[:_NAME_CHARS]}."


def _writer_pid(entry: str, prefix: str | None) -> int | None:
    """The pid in ``entry`` if it names this host's temporary for a destination whose
    temporaries begin with ``prefix`` (any destination: None), else None."""
    if prefix is None:
        match = _ANY_TEMP.fullmatch(entry)
    else:
        match = _TAIL.fullmatch(entry, len(prefix)) if entry.startswith(prefix) else None
    return None if match is None else int(match.group(1))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: StrPath) -> list[str]:
    """Remove the temporaries that killed writers of ``path`` left behind; their paths.

    Only temporaries made on this host by processes that no longer exist are removed
    (POSIX only: elsewhere nothing is removed).

    Example:
        >>> import tempfile, os
        >>> remove_stale_temporaries(os.path.join(tempfile.mkdtemp(), "model.mge"))
        []
    """
    folder, name = os.path.split(os.path.abspath(path))
    return _remove_stale(folder, _temp_prefix(name))


def remove_stale_temporaries_in(folder: StrPath) -> list[str]:
    """Remove the temporaries that killed writers left in ``folder``, whatever file they
    were writing (for writers that make new names, e.g. numbered parts); their paths.

    Example:
        >>> import tempfile
        >>> remove_stale_temporaries_in(tempfile.mkdtemp())
        []
    """
    return _remove_stale(os.path.abspath(folder), None)


def _remove_stale(folder: str, prefix: str | None) -> list[str]:
    """Remove this host's temporaries in ``folder`` (of destinations whose temporaries
    begin with ``prefix``; None: all) whose writer no longer exists."""
    if os.name != "posix":
        return []
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        pid = _writer_pid(entry.name, prefix)
        if pid is None or _process_exists(pid):
            continue
        with contextlib.suppress(FileNotFoundError):  # another writer removed it first
            os.unlink(entry.path)
            removed.append(entry.path)
    return removed


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync folders
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _destination(path: StrPath) -> str:
    """The file that will be replaced: ``path``, or the file a symbolic link points to."""
    target = os.fspath(path)
    if isinstance(target, bytes):
        target = os.fsdecode(target)
    return os.path.realpath(target) if os.path.islink(target) else os.path.abspath(target)


def _naming(exc: OSError, path: str, temp: str | None) -> OSError:
    """``exc`` with ``path`` as its file name when it named the temporary (or nothing)."""
    if exc.filename not in (None, temp):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), path)


@contextlib.contextmanager
def atomic_write(path: StrPath, *, append: bool = False, durable: bool = True
                 ) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``path`` when the block ends without error.

    Args:
        path: the destination file.
        append: start from the destination's current contents (which stay in place until
            the new file replaces them).
        durable: ``fsync`` the file and its folder (the default), so that the new file
            survives a power cut. False skips both (two disk flushes, often 5-20 ms): a
            killed process still leaves the old file or the new one, but after a power
            cut the file may be empty. For files rewritten all the time (Lite's profile
            and IO dumps).

    Raises:
        IsADirectoryError: ``path`` is a folder.
        OSError: the file cannot be written; the message names ``path``.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "log.bin")
        >>> for part in (b"a", b"b"):
        ...     with atomic_write(path, append=True) as f:
        ...         _ = f.write(part)
        >>> open(path, "rb").read()
        b'ab'
    """
    shown = os.fspath(path)
    target = _destination(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _naming(exc, shown, None) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", shown)
    if info is not None and not stat.S_ISREG(info.st_mode):  # a device or a FIFO
        with open(target, "ab" if append else "wb") as f:
            yield f
        return
    folder, name = os.path.split(target)
    remove_stale_temporaries(target)
    temp = os.path.join(folder, f"{_temp_prefix(name)}{_HOST}-{os.getpid()}-"
                                f"{secrets.token_hex(8)}{TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666)  # the kernel applies the umask
    except OSError as exc:
        raise _naming(exc, shown, temp) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if info is not None:
                os.chmod(temp, stat.S_IMODE(info.st_mode))
                if append:
                    with open(target, "rb") as old:
                        shutil.copyfileobj(old, f)
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, OSError) and _naming(exc, shown, temp) is not exc:
            raise _naming(exc, shown, temp) from None
        raise
    if not durable:
        return
    try:
        _fsync_folder(folder)
    except OSError as exc:
        raise _naming(exc, shown, None) from None


def write_file(path: StrPath, data: bytes | bytearray | memoryview, *,
               append: bool = False, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "model.mge")
        >>> write_file(path, b"\\x00" * 4)
        >>> os.path.getsize(path)
        4
    """
    with atomic_write(path, append=append, durable=durable) as f:
        f.write(data)


def replace_file(source: StrPath, destination: StrPath) -> None:
    """Move the finished file ``source`` over ``destination`` durably: ``fsync`` it, rename
    it (``os.replace``: readers see the old file or the new one) and ``fsync`` the folder.
    For files written in place beforehand (a resumable download's ``.partial``); both
    must be in the same folder.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> done = os.path.join(folder, "w.bin.partial")
        >>> _ = open(done, "wb").write(b"weights")
        >>> replace_file(done, os.path.join(folder, "w.bin"))
        >>> sorted(os.listdir(folder))
        ['w.bin']
    """
    with open(source, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(source, destination)
    _fsync_folder(os.path.dirname(os.path.abspath(destination)))


__all__ = ["TEMP_SUFFIX", "atomic_write", "remove_stale_temporaries",
           "remove_stale_temporaries_in", "replace_file", "write_file"]
