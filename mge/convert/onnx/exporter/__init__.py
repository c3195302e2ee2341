"""mge -> ONNX: :func:`to_onnx` for TracedModules and ``.mge`` files, :func:`export_graph`
for mge's graph IR. Each op's export rule lives in its family home
(``mge/ops/<family>/onnx_export.py``), written on the symbolic builder of ``sym``."""

from .graph import MIN_OPSET, export_graph
from .model import source_graph, to_onnx

__all__ = ["MIN_OPSET", "export_graph", "source_graph", "to_onnx"]
