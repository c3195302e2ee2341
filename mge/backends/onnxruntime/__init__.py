"""The onnxruntime backend: every op runs as a one-op ONNX graph in onnxruntime.

A kernel call exports the op (with its input shapes and dtypes) through mge's ONNX
exporter and runs it with onnxruntime's CPU provider; sessions are cached per op and
input signature. It exists to check the exporter op by op against the numpy reference
(the op-table test runs it like any backend) and to run ops eagerly through
onnxruntime; whole graphs run much faster as one session, in the ``onnxruntime`` plan
backend of :mod:`mge.runtime.ort_plan`.

It is loadable by name but not listed by ``available_backends()`` (``every=True``
lists it), since building a session per op signature is too slow for eager test suites.
An op ONNX cannot express raises ``NotImplementedError`` naming the reason. An op whose
ONNX form the installed onnxruntime computes wrongly (:mod:`.departures`) runs on the
numpy reference kernel instead.

Example:
    >>> import numpy as np
    >>> from mge.ops import Elemwise
    >>> BACKEND.run(Elemwise(mode="RELU"), [np.array([-1.0, 2.0], np.float32)])
    array([0., 2.], dtype=float32)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import onnxruntime

from ...core.opdef import REGISTRY, OpDef
from .. import Backend, get_backend
from .departures import departures_in

#: sessions kept (least recently used dropped)
MAX_SESSIONS = 512


def c_contiguous(array: Any) -> np.ndarray:
    """A C-contiguous numpy array with the same values (0-d arrays stay 0-d)."""
    return np.require(np.asarray(array), requirements="C")


class OnnxRuntimeBackend(Backend):
    """Kernels that export one op to ONNX and run it in onnxruntime (CPU)."""

    name = "onnxruntime"
    array_type = np.ndarray
    eager = False

    def __init__(self) -> None:
        super().__init__()
        self._sessions: OrderedDict[tuple, Any] = OrderedDict()

    def _kernel(self, op: OpDef, *arrays: Any) -> Any:
        return self.run(op, list(arrays))

    def kernel_for(self, cls: type[OpDef]) -> Any:
        """Every registered op has the one exporting kernel (it may refuse the op)."""
        return self._kernel if REGISTRY.get(cls.type_name) is cls else None

    def run(self, op: OpDef, arrays: list[Any]) -> Any:
        """Run ``op`` on numpy ``arrays`` through a (cached) one-op onnxruntime session."""
        arrays = [c_contiguous(a) for a in arrays]
        key = (op, tuple((a.shape, a.dtype.str) for a in arrays))
        if key in self._sessions:
            session = self._sessions[key]
        else:
            session = self._sessions[key] = self._compile(op, arrays)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(key)
        if session is None:  # onnxruntime departs from the spec on this op's ONNX form
            return get_backend("numpy").run(op, arrays)
        outs = session.run(None, {f"x{k}": a for k, a in enumerate(arrays)})
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _compile(self, op: OpDef, arrays: list[np.ndarray]) -> Any | None:
        from ...convert.onnx import UnsupportedOpError
        from ...convert.onnx.exporter import export_graph
        from ...graph.ir import Graph

        graph = Graph()
        inputs = [graph.add_input(f"x{k}", a.shape, a.dtype) for k, a in enumerate(arrays)]
        graph.outputs = graph.add_op(op, inputs)
        try:
            model = export_graph(graph, fold=False)
        except UnsupportedOpError as exc:
            reasons = "; ".join(p.reason for p in exc.problems)
            raise NotImplementedError(
                f"backend 'onnxruntime' cannot run {op.type_name}: {reasons}") from None
        if departures_in(node.op_type for node in model.graph.node):
            return None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1  # one op: a thread pool per session costs more
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])

    def asarray(self, value: np.ndarray, device: str | None = None) -> np.ndarray:
        return np.asarray(value)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)


BACKEND = OnnxRuntimeBackend()
