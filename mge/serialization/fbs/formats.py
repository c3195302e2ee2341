"""One entry point per direction for both ``.mge`` container formats.

``read_model`` recognises FBS_V2 (identifier ``mgv2``) and FBS v1 (magic ``MGBC`` /
``MGBS``) and returns the same plain :class:`~.model.ModelFile` for both;
``write_model(model, dump_format)`` writes either.
"""

from __future__ import annotations

from .model import ModelFile
from .reader import detect_format, read_model_v2
from .reader_v1 import read_model_v1
from .writer import write_model_v2
from .writer_v1 import write_model_v1

#: ``dump_format`` names (MegEngine's) and what writes them; None is FBS_V2
DUMP_FORMATS = ("FBS_V2", "FBS")


def read_model(data: bytes, source_name: str) -> ModelFile:
    """Parse an FBS_V2 or FBS (v1) model; any problem raises :class:`~.errors.MgeFormatError`
    naming the file.  Nothing in the file is executed.

    Example:
        >>> model = read_model(open("net.mge", "rb").read(), "net.mge")   # doctest: +SKIP
        >>> model.operators[0].type                                      # doctest: +SKIP
        'Host2DeviceCopy'
    """
    if detect_format(data) == "FBS":
        return read_model_v1(data, source_name)
    return read_model_v2(data, source_name)


def write_model(model: ModelFile, dump_format: str | None = None) -> bytes:
    """Serialize ``model`` as ``dump_format`` (``"FBS_V2"``, the default, or ``"FBS"``).

    Example:
        >>> write_model(model, "FBS")[:4]                                 # doctest: +SKIP
        b'MGBC'
    """
    if dump_format in (None, "FBS_V2"):
        return write_model_v2(model)
    if dump_format == "FBS":
        return write_model_v1(model)
    raise ValueError(f"unknown dump_format {dump_format!r}; expected one of {DUMP_FORMATS}")
