"""mge -> ONNX: :func:`to_onnx` for TracedModules and ``.mge`` files, :func:`export_graph`
for mge's graph IR. The converter table lives in the modules beside this one (``ops``,
``conv``, ``shape``, ``vision``), built on the symbolic builder of ``sym``."""

from .graph import MIN_OPSET, export_graph
from .model import source_graph, to_onnx

__all__ = ["MIN_OPSET", "export_graph", "source_graph", "to_onnx"]
