"""The one exception raised for malformed or unsupported ``.mge`` model files."""

from __future__ import annotations


class MgeFormatError(ValueError):
    """A model file is truncated, corrupted, of an unsupported format or inconsistent.

    The message always starts with the name of the file (the ``source_name`` given to
    :func:`~mge.serialization.fbs.read_model`) followed by what is wrong.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
