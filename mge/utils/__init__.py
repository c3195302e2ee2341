"""Utilities shared by mge's writers and tools (MegEngine has ``megengine.utils``).

* :mod:`mge.utils.atomic_file`: write a file whole or not at all, keeping the umask.

Example:
    >>> import os, tempfile
    >>> from mge.utils import write_file
    >>> path = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> write_file(path, b"data")
    >>> open(path, "rb").read()
    b'data'
"""

from .atomic_file import (
    TEMP_SUFFIX,
    atomic_write,
    remove_stale_temporaries,
    remove_stale_temporaries_in,
    replace_file,
    write_file,
)

__all__ = ["TEMP_SUFFIX", "atomic_write", "remove_stale_temporaries",
           "remove_stale_temporaries_in", "replace_file", "write_file"]
