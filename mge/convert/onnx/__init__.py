"""ONNX import (:mod:`.importer`) and export (:mod:`.exporter`), with one error type
(:class:`OnnxError`) for both directions."""

from importlib import import_module
from typing import Any

from .errors import (
    OnnxError,
    OnnxExportError,
    OnnxImportError,
    Problem,
    UnsupportedOnnxError,
    UnsupportedOpError,
)

#: each public name of the two directions by its subpackage, imported on first use (PEP
#: 562): a plan that lowers to ONNX imports the exporter without the importer (~0.1 s)
_LAZY = {"to_onnx": ".exporter", "OnnxModule": ".importer", "from_onnx": ".importer",
         "onnx_to_mge": ".importer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OnnxError", "OnnxExportError", "OnnxImportError", "OnnxModule", "Problem",
           "UnsupportedOnnxError", "UnsupportedOpError", "from_onnx", "onnx_to_mge", "to_onnx"]
