"""ONNX -> ``.mge``: import an ONNX model and dump it as a MegEngine model file.

The imported :class:`~.model.OnnxModule` runs once under ``mge.jit.trace`` on its example
inputs and the trace is dumped (FBS_V2); inputs and outputs keep their ONNX names, so
``mge.lite`` and ``load_and_run`` address them as the ONNX model does. A graph output
that is also an input (or another output) is written as a copy, so each keeps its name.
MegEngine's format has no 0-d tensors: a scalar output is stored with shape ``(1,)``, and
inputs that no output depends on are not in the file.

Example:
    >>> onnx_to_mge("mobilenet_v2.onnx", "mobilenet_v2.mge")     # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from .... import functional as F
from ....jit.trace import trace
from ....tensor import Tensor
from ..files import check_destination, write_file
from .model import from_onnx


def _distinct_outputs(inputs: Sequence[Tensor], outputs: Sequence[Tensor]
                      ) -> tuple[Tensor, ...]:
    """``outputs`` with a copy wherever an output is an input or repeats an earlier output:
    a value has one name in a ``.mge`` file, and inputs and outputs keep their own."""
    seen = {id(x) for x in inputs}
    distinct = []
    for out in outputs:
        if id(out) in seen:
            out = F.copy(out)
        seen.add(id(out))
        distinct.append(out)
    return tuple(distinct)


def onnx_to_mge_bytes(source: Any, int8: bool = False) -> bytes:
    """The ``.mge`` file (bytes) of an ONNX model (path, bytes or ``onnx.ModelProto``);
    ``int8``: its QDQ patterns as MegEngine's quantized graph (``from_onnx(int8=True)``).

    Raises:
        OnnxError: the model cannot be read, or some nodes cannot be imported.
    """
    return _dump(from_onnx(source, trace=False, int8=int8))


def _dump(module: Any) -> bytes:

    copied: list[bool] = []

    @trace(symbolic=True, capture_as_const=True)
    def run(*inputs: Tensor) -> tuple[Tensor, ...]:
        result = module(*inputs)
        result = result if isinstance(result, tuple) else (result,)
        distinct = _distinct_outputs(inputs, result)
        copied.append(any(a is not b for a, b in zip(distinct, result)))
        return distinct

    run(*module.example_inputs())
    buffer = io.BytesIO()
    # the inference passes would fold the copies away again
    run.dump(buffer, arg_names=list(module.input_names),
             output_names=list(module.output_names), optimize_for_inference=not copied[-1])
    return buffer.getvalue()


def onnx_to_mge(source: Any, output: str | os.PathLike, int8: bool = False) -> str | None:
    """Import an ONNX model and write it to ``output`` as a ``.mge`` file. ``int8``: a
    QDQ model's patterns become MegEngine's quantized graph (an int8 ``.mge``); returns
    the import's summary then (how many ops became quantized, what stayed emulated).

    Raises:
        OnnxError: the model cannot be read or imported, or ``output`` cannot be written
            (checked before the model is converted).
    """
    check_destination(output, "the .mge model")
    module = from_onnx(source, trace=False, int8=int8)
    write_file(output, _dump(module), "the .mge model")
    return getattr(module, "int8_summary", None)


__all__ = ["onnx_to_mge", "onnx_to_mge_bytes"]
