"""ONNX -> ``.mge``: import an ONNX model and dump it as a MegEngine model file.

The imported :class:`~.model.OnnxModule` runs once under ``mge.jit.trace`` on its example
inputs and the trace is dumped (FBS_V2); inputs and outputs keep their ONNX names, so
``mge.lite`` and ``load_and_run`` address them as the ONNX model does. MegEngine's format
has no 0-d tensors: a scalar output is stored with shape ``(1,)``.

Example:
    >>> onnx_to_mge("mobilenet_v2.onnx", "mobilenet_v2.mge")     # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from typing import Any

from ....jit.trace import trace
from ..files import check_destination, write_file
from .model import from_onnx


def onnx_to_mge_bytes(source: Any) -> bytes:
    """The ``.mge`` file (bytes) of an ONNX model (path, bytes or ``onnx.ModelProto``).

    Raises:
        OnnxError: the model cannot be read, or some nodes cannot be imported.
    """
    module = from_onnx(source, trace=False)

    @trace(symbolic=True, capture_as_const=True)
    def run(*inputs: object) -> object:
        return module(*inputs)

    run(*module.example_inputs())
    buffer = io.BytesIO()
    run.dump(buffer, arg_names=list(module.input_names),
             output_names=list(module.output_names))
    return buffer.getvalue()


def onnx_to_mge(source: Any, output: str | os.PathLike) -> None:
    """Import an ONNX model and write it to ``output`` as a ``.mge`` file.

    Raises:
        OnnxError: the model cannot be read or imported, or ``output`` cannot be written
            (checked before the model is converted).
    """
    check_destination(output, "the .mge model")
    write_file(output, onnx_to_mge_bytes(source), "the .mge model")


__all__ = ["onnx_to_mge", "onnx_to_mge_bytes"]
