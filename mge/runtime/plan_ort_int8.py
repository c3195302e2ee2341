"""The ``onnxruntime-int8`` plan backend: quantized graphs on onnxruntime's integer
kernels (QLinearConv, MatMulInteger; the CPU's VNNI units where it has them).

The graph is lowered by :mod:`.int8_onnx` and run as one onnxruntime session. The
requantizing relus, clips and pads give MegEngine's codes exactly (checked code by code);
``QLinearConv`` and ``QLinearAdd`` requantize with onnxruntime's own float factor and
round ties to even: within one quantization step per op, as MegEngine's own x86 and ARM
kernels differ. A graph the lowering does not cover runs on the exact numpy kernels (with a
warning). Used when named (``"auto"`` runs quantized graphs on the exact ``numpy``
backend).

Example:
    >>> cfg = mge.lite.LiteConfig(); cfg.plan_backend = "onnxruntime-int8"  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import onnxruntime

from ..graph.ir import Graph
from .int8_onnx import Int8Unsupported, lower_to_onnx
from .ort_plan import direct_run, session_options
from .plan import GraphRunner, register_plan_backend
from .plan_numpy import NumpyPlanBackend


@register_plan_backend
class OrtInt8PlanBackend(NumpyPlanBackend):
    """One onnxruntime session of the int8 ONNX form of a quantized graph."""

    name = "onnxruntime-int8"
    priority = 5
    opt_in = True
    quantized = True

    def compile_graph(self, graph: Graph) -> GraphRunner | None:
        try:
            model = lower_to_onnx(graph)
        except Int8Unsupported as exc:
            warnings.warn(f"plan backend {self.name!r} cannot lower {exc}; running the "
                          "graph on the numpy kernels", stacklevel=3)
            return None
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), session_options(self.options.threads),
            providers=["CPUExecutionProvider"])
        inputs = [f"in{k}" for k in range(len(graph.inputs))]
        outputs = [f"out{k}" for k in range(len(graph.outputs))]
        call = direct_run(session, self.options)  # the CPU provider: its native run

        def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            return call(outputs, {n: np.ascontiguousarray(x)
                                  for n, x in zip(inputs, feeds, strict=True)}, None)

        run.session = session  # type: ignore[attr-defined]
        return run


__all__ = ["OrtInt8PlanBackend"]
