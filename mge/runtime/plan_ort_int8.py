"""The ``onnxruntime-int8`` plan backend: quantized graphs on onnxruntime's integer
kernels (QLinearConv, MatMulInteger; the CPU's VNNI units where it has them).

The graph is lowered by :mod:`.int8_onnx` and run as one onnxruntime session. The
requantizing relus, clips and pads give MegEngine's codes exactly (checked code by code);
``QuantizeLinear``, ``QLinearConv`` and ``QLinearAdd`` round exact ties to even where
MegEngine rounds them away from zero: within one quantization step per op, and only on
ties (``python bench/int8_fidelity.py DIR --layers``, each layer fed MegEngine's inputs, 3
photos: ResNet-18 equal on every code; MobileNetV2 off by one on 38 of 57 million conv
codes, at ties, and on 12% of its input codes, an image's ``2 * p / 255 - 1`` at scale
``1 / 127.5`` being an exact half at many pixels; rounding those as MegEngine does costs
6 more elementwise passes, 0.2 ms at batch 1: not done). MegEngine's
own dnn tests hold its x86 int8 conv kernels to the naive kernel's codes exactly (Checker
epsilon 1e-3 on integer code differences) and allow its ARMv7 ones one code. A graph the
lowering does not cover runs on the exact numpy kernels (with a warning). Used when named
(``"auto"`` runs quantized graphs on the exact ``numpy`` backend).

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

#: onnxruntime graph optimizations turned off in the plan's session: onnxruntime 1.32's
#: ``WeightBiasQuantization`` quantizes the float weights of a ``Conv`` between a
#: ``DequantizeLinear`` and a ``QuantizeLinear`` to per-tensor int8, so a layer a
#: mixed-precision net leaves float (``mge.quantization.mixed_precision.keep_float``,
#: a ``TypeCvt`` to float32 before it and back after) would compute in int8: up to 18
#: codes off on a depthwise conv with wide-ranged filters
FLOAT_KEEPING = ["WeightBiasQuantization"]


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
            providers=["CPUExecutionProvider"], disabled_optimizers=FLOAT_KEEPING)
        inputs = [f"in{k}" for k in range(len(graph.inputs))]
        outputs = [f"out{k}" for k in range(len(graph.outputs))]
        call = direct_run(session, self.options)  # the CPU provider: its native run

        def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            return call(outputs, {n: np.ascontiguousarray(x)
                                  for n, x in zip(inputs, feeds, strict=True)}, None)

        run.session = session  # type: ignore[attr-defined]
        return run


__all__ = ["FLOAT_KEEPING", "OrtInt8PlanBackend"]
