"""The one error type of ONNX import and export: :class:`OnnxError`.

Everything that goes wrong while reading an ONNX model into mge or writing one out of it
raises :class:`OnnxError` (a ``ValueError``, as both directions raised before): a model
that cannot be read, bad arguments, an unwritable output. When the model is fine but some
nodes (import) or ops (export) have no counterpart, the error is an
:class:`UnsupportedOnnxError` whose ``problems`` list every one of them, so one run
reports all of them. The names used before (``OnnxImportError``, ``OnnxExportError``,
``UnsupportedOpError``) are the same classes.

Example:
    >>> try:
    ...     from_onnx("missing.onnx")          # doctest: +SKIP
    ... except OnnxError as exc:
    ...     print(exc, exc.problems)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Problem:
    """One node (import) or op (export) that has no counterpart, and why.

    ``output`` names the value the op computes (export only: mge ops are unnamed).
    """

    op_type: str
    name: str
    reason: str
    output: str | None = None

    def __str__(self) -> str:
        where = f"{self.name!r}" if self.output is None else f"{self.name!r} -> {self.output}"
        return f"{self.op_type} ({where}): {self.reason}"


class OnnxError(ValueError):
    """An ONNX model cannot be imported or exported; ``problems`` lists unsupported nodes
    or ops (empty when the error is about the model, the arguments or the files)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class UnsupportedOnnxError(OnnxError):
    """The model is valid but some of its nodes (import) or ops (export) are not supported
    in the other format; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem], action: str = "import the ONNX model",
                 unit: str = "node") -> None:
        types = sorted({p.op_type for p in problems})
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"cannot {action}: {len(problems)} unsupported {unit}(s) of type "
                         f"{', '.join(types)}:\n{lines}", problems)


#: the names of the import and export errors before they became one type
OnnxImportError = OnnxError
OnnxExportError = OnnxError
UnsupportedOpError = UnsupportedOnnxError

__all__ = ["OnnxError", "OnnxExportError", "OnnxImportError", "Problem", "UnsupportedOnnxError",
           "UnsupportedOpError"]
