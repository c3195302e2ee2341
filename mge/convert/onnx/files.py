"""The one function through which ``mge.convert`` writes files: :func:`write_file`.

Every output of the package (``.onnx`` models, ``.mge`` models, pickled TracedModules)
is serialized to bytes first and written here, so that how files are written (a
temporary file in the same folder renamed into place: an interrupted or failed write
leaves no partial file; see :mod:`mge.utils.atomic_file`) is decided in one place.
:func:`check_destination` checks an output path before any work is done, so a bad path
fails fast with a clear error.

Example:
    >>> write_file("model.onnx", data, "the ONNX model")   # doctest: +SKIP
"""

from __future__ import annotations

import os

from ...utils.atomic_file import write_file as atomic_write_file
from .errors import OnnxError

PathLike = str | os.PathLike


def check_destination(output: PathLike, what: str) -> str:
    """The absolute path of ``output`` if ``what`` can be written there, else
    :class:`OnnxError` naming the path and the reason."""
    path = os.path.abspath(os.fspath(output))
    folder = os.path.dirname(path)
    where = f"cannot write {what} to {os.fspath(output)!r}"
    if os.path.isdir(path):
        raise OnnxError(f"{where}: it is a directory")
    if not os.path.isdir(folder):
        raise OnnxError(f"{where}: directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OnnxError(f"{where}: directory {folder!r} is not writable")
    return path


def write_file(output: PathLike, data: bytes, what: str) -> None:
    """Write ``data`` to ``output`` atomically (:func:`mge.utils.atomic_file.write_file`:
    a temporary file renamed into place, the umask and an old file's mode kept); an
    ``OSError`` becomes :class:`OnnxError` naming ``output`` (never the temporary)."""
    check_destination(output, what)
    try:
        atomic_write_file(output, data)
    except OSError as exc:
        raise OnnxError(f"cannot write {what} to {os.fspath(output)!r}: "
                        f"{exc.strerror or exc}") from exc


__all__ = ["check_destination", "write_file"]
