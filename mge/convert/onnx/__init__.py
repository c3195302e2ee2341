"""ONNX import (:mod:`.importer`) and export (:mod:`.exporter`), with one error type
(:class:`OnnxError`) for both directions."""

from .errors import (
    OnnxError,
    OnnxExportError,
    OnnxImportError,
    Problem,
    UnsupportedOnnxError,
    UnsupportedOpError,
)
from .exporter import to_onnx
from .importer import OnnxModule, from_onnx, onnx_to_mge

__all__ = ["OnnxError", "OnnxExportError", "OnnxImportError", "OnnxModule", "Problem",
           "UnsupportedOnnxError", "UnsupportedOpError", "from_onnx", "onnx_to_mge", "to_onnx"]
