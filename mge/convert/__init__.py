"""``mge.convert``: model conversion between mge and other formats.

Import: :func:`from_onnx` turns an ONNX model into a TracedModule (or, with
``trace=False``, the eager :class:`OnnxModule`) that runs ``mge.functional`` calls.
The command line is ``python -m mge.convert`` (see :mod:`mge.convert.cli`).

Example:
    >>> import mge.convert
    >>> net = mge.convert.from_onnx("resnet18.onnx")  # doctest: +SKIP
"""

from .onnx_import import (
    OnnxImportError,
    OnnxModule,
    Problem,
    UnsupportedOnnxError,
    from_onnx,
)

__all__ = ["OnnxImportError", "OnnxModule", "Problem", "UnsupportedOnnxError", "from_onnx"]
