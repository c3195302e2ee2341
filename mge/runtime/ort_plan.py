"""The ``onnxruntime`` plan backend: a whole graph as one onnxruntime session.

The plan's graph (after the inference passes) is exported to ONNX in memory
(:mod:`.plan_onnx`) and run by a single
``InferenceSession``: the CPU provider with ``intra_op_num_threads`` set to the plan's
threads, or the CUDA provider for ``gpu`` devices when onnxruntime has it. With
``compute_dtype="float16"`` the graph is converted to float16 first (inputs and outputs
keep their types).

A graph the exporter cannot express (an op without an ONNX form) still runs: the
backend warns and hands every op to the best other plan backend.

Example:
    >>> from mge.runtime.plan import Plan, PlanOptions
    >>> plan = Plan(graph, PlanOptions(backend="onnxruntime", threads=2))  # doctest: +SKIP
    >>> plan.run(data=x)                                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime

from ..backends.onnxruntime.departures import departures_in, describe
from ..graph.ir import Graph
from .plan import PlanOptions, register_plan_backend
from .plan_onnx import ONNX_PASSES, GraphRunner, OnnxGraphBackend, c_contiguous, export_for_plan

#: the graph passes run before export: MegEngine's inference passes and conv fusion
ORT_PASSES = ONNX_PASSES
_COMPUTE = (None, "float32", "float16")


def providers(options: PlanOptions) -> list[Any]:
    """onnxruntime execution providers for ``options.device``."""
    if options.device_kind == "gpu":
        return [("CUDAExecutionProvider", {"device_id": options.device_index})]
    return ["CPUExecutionProvider"]


def session_options(threads: int | None) -> Any:
    """Session options: ``threads`` intra-op threads (``None``: onnxruntime's default).

    Everything else is what a default ``InferenceSession`` uses (all graph
    optimizations, memory patterns and arena on, worker threads spinning briefly before
    they sleep), so a plan is never slower than onnxruntime run directly on the model.
    """
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    opts.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


@register_plan_backend
class OrtPlanBackend(OnnxGraphBackend):
    """One onnxruntime session per plan (CPU provider, or CUDA where available)."""

    name = "onnxruntime"
    priority = 30
    devices = ("cpu", "gpu")

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in _COMPUTE:
            return f"plan backend 'onnxruntime' computes in float32 or float16, not " \
                   f"{options.compute_dtype}"
        if options.device_kind == "gpu" and \
                "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return f"device {options.device!r}: this onnxruntime has no CUDA provider"
        return super().unavailable(options)

    def external_weights(self) -> dict[str, np.ndarray]:
        """The weights go to onnxruntime as arrays, never through the model's bytes:
        serializing them and parsing them again was most of a plan's load time (the
        ``OrtValue``s share the arrays' memory; they must outlive the session)."""
        self.weight_arrays: dict[str, np.ndarray] = {}
        return self.weight_arrays

    def compile_model(self, model: Any, graph: Graph) -> GraphRunner | None:
        """One onnxruntime session for the model, the weights passed as arrays; ``None``
        (the graph runs on another backend, with a warning) when the installed
        onnxruntime computes one of the model's ops wrongly."""
        wrong = departures_in(node.op_type for node in model.graph.node)
        if wrong:
            self._fall_back(f"would compute wrong results: onnxruntime "
                            f"{onnxruntime.__version__} {describe(wrong)}")
            return None
        opts = session_options(self.options.threads)
        weights = [onnxruntime.OrtValue.ortvalue_from_numpy(a)
                   for a in self.weight_arrays.values()]
        if weights:
            opts.add_external_initializers(list(self.weight_arrays), weights)
        session = onnxruntime.InferenceSession(model.SerializeToString(), opts,
                                               providers=providers(self.options))
        names = [f"in{k}" for k in range(len(graph.inputs))]
        outputs = [f"out{k}" for k in range(len(graph.outputs))]

        def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            return session.run(outputs, {n: c_contiguous(x) for n, x in zip(names, feeds)})

        run.session = session  # type: ignore[attr-defined]
        run.weights = weights  # type: ignore[attr-defined]  (the session reads them)
        return run


__all__ = ["ORT_PASSES", "OrtPlanBackend", "export_for_plan", "providers", "session_options"]
