"""The ``openvino-int8`` plan backend: quantized graphs on OpenVINO's int8 CPU kernels.

The graph is lowered by :mod:`.int8_qdq` to a QDQ ONNX model of its real values, read by
OpenVINO's ONNX frontend (each Q/DQ pair becomes a ``FakeQuantize``) and compiled for
the CPU plugin once per plan (a new input shape makes a new plan, so a new compiled
model). OpenVINO's low-precision transformations then run the convolutions, matmuls and
pools between quantizations on integer kernels (u8 activations x i8 weights):
:func:`int8_layers` reads the compiled model's runtime precisions to check it (on an
AVX-512 VNNI CPU every convolution of the MobileNetV2 and ResNet-18 int8 dumps runs as
``brgconv_avx512*_I8`` at ``u8``, their adds and pools too; ResNet-18's classifier matmul
as ``brgemm_avx512_I8``). ``threads`` -> ``INFERENCE_NUM_THREADS``, one stream, the
latency hint, float32 for whatever stays in float.

Not bit-exact with MegEngine: OpenVINO requantizes with its own float factors and
rounds ties to even. Per layer (``python bench/int8_fidelity.py DIR --layers``, each layer
fed MegEngine's inputs, 3 photos, OpenVINO 2026.4, AVX-512 VNNI, every convolution on
``u8``, the float tail equal): off by one on 54 of 64 million MobileNetV2 codes (52 conv
codes within 1e-3 of a rounding tie, 2 of a residual add) and on 29 of 11 million
ResNet-18 conv codes, all near ties; float inputs are rounded
as MegEngine rounds before their ``FakeQuantize`` (:mod:`.int8_qdq`; it rounded half of
MobileNetV2's input codes differently). Those few codes grow through the net: against
the exact numpy kernels (which match MegEngine Lite bit for bit) on 96 random crops/flips
and the 3 photos, ``python bench/int8_fidelity.py DIR --crops 96``: mge's MobileNetV2 PTQ
dump max |logit diff| 0.56 (logits up to 17; the ``onnxruntime-int8`` backend: 0.62),
top-1 equal on the photos and on 94/96 crops (onnxruntime-int8: 94); MegEngine 1.13's
ResNet-18 int8 dump (seeded random weights, logits up to 2.8) 0.18 (onnxruntime-int8:
0.06), 95/96 (onnxruntime-int8: 96/96). Used only when named:
``"auto"`` runs quantized graphs on the exact ``numpy`` backend. An op it cannot map
raises ``NotImplementedError`` naming it (no silent fallback).

OpenVINO is an optional dependency (``pip install "mge[openvino]"``).

Example:
    >>> cfg = mge.lite.LiteConfig(); cfg.plan_backend = "openvino-int8"  # doctest: +SKIP
"""

from __future__ import annotations

import collections
from typing import Any

import openvino  # noqa: F401  (missing: the backend is not registered)

from ..graph.ir import Graph
from .int8_onnx import Int8Unsupported
from .int8_qdq import lower_to_qdq
from .plan import GraphRunner, PlanOptions, register_plan_backend
from .plan_numpy import NumpyPlanBackend
from .plan_openvino import compiled_runner, read_with_weights


def int8_layers(compiled: Any) -> dict[str, collections.Counter]:
    """The compiled model's layers by type, counted by runtime precision (OpenVINO's
    executed graph: ``{"Convolution": Counter({"u8": 52}), ...}``): the layers that
    really run on integer kernels read ``u8``/``i8``."""
    found: dict[str, collections.Counter] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str)
        precision = info["runtimePrecision"].astype(str).lower() \
            if "runtimePrecision" in info else ""
        found.setdefault(kind, collections.Counter())[precision] += 1
    return found


@register_plan_backend
class OpenVinoInt8PlanBackend(NumpyPlanBackend):
    """One OpenVINO CPU compiled model of the QDQ form of a quantized graph."""

    name = "openvino-int8"
    priority = 4
    opt_in = True
    quantized = True

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in (None, "float32"):
            return (f"plan backend 'openvino-int8' keeps its float parts in float32, not "
                    f"{options.compute_dtype}")
        return super().unavailable(options)

    def compile_graph(self, graph: Graph) -> GraphRunner | None:
        try:
            model = lower_to_qdq(graph)
        except Int8Unsupported as exc:
            raise NotImplementedError(f"plan backend {self.name!r} has no OpenVINO form "
                                      f"for {exc}") from None
        return compiled_runner(read_with_weights(model, {}), self.options, len(graph.outputs))

__all__ = ["OpenVinoInt8PlanBackend", "int8_layers"]
