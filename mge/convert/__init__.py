"""``mge.convert``: model conversion between mge and other formats.

Import: :func:`from_onnx` turns an ONNX model into a TracedModule (or, with
``trace=False``, the eager :class:`OnnxModule`) that runs ``mge.functional`` calls.
Export: :func:`to_onnx` writes a TracedModule or a ``.mge`` file as ONNX;
:func:`onnx_to_mge` writes an ONNX model as a ``.mge`` file.
The command line is ``python -m mge.convert`` (see :mod:`mge.convert.cli`).

Example:
    >>> import mge.convert
    >>> net = mge.convert.from_onnx("resnet18.onnx")  # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

#: public names, each from :mod:`.onnx`, imported on first use (PEP 562): the runtime's
#: plans use the exporter alone and need not import the importer with it
_LAZY = ("OnnxError", "OnnxExportError", "OnnxImportError", "OnnxModule", "Problem",
         "UnsupportedOnnxError", "UnsupportedOpError", "from_onnx", "onnx_to_mge", "to_onnx")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(".onnx", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
