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

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime

from ..backends.onnxruntime.departures import departures_in, describe
from ..graph.ir import Graph
from .ort_binding import Binding, binds_in_place
from .plan import PlanOptions, register_plan_backend
from .plan_onnx import (
    ONNX_PASSES,
    GraphRunner,
    OnnxGraphBackend,
    c_contiguous,
    export_for_plan,
)

#: the graph passes run before export: MegEngine's inference passes and conv fusion
ORT_PASSES = ONNX_PASSES
_COMPUTE = (None, "float32", "float16")
#: the files of a model onnxruntime saved as it optimized it (see ``compile_bytes``)
SAVED_MODEL, SAVED_WEIGHTS = "ort.onnx", "ort.bin"


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


def direct_run(session: Any, options: PlanOptions) -> Any:
    """``run(output_names, feeds, run_options)`` of ``session``: on the CPU provider its
    native ``run``, skipping ``InferenceSession.run``'s Python checks (graph capture,
    input names, OrtValue ownership: the plan always feeds its own input names with
    numpy arrays; 3-8 us a forward, which counts on sub-millisecond models); elsewhere
    (CUDA's fallback on an EP failure lives there) and where this onnxruntime has no
    native session object, the public ``session.run``."""
    native = getattr(session, "_sess", None)
    if options.device_kind == "cpu" and callable(getattr(native, "run", None)):
        return native.run
    return session.run


def _add_weights(opts: Any, arrays: Mapping[str, np.ndarray]) -> list[Any]:
    """Hand ``arrays`` to a session as external initializers (the ``OrtValue``s share
    the arrays' memory: keep the returned list as long as the session)."""
    weights = [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in arrays.values()]
    if weights:
        opts.add_external_initializers(list(arrays), weights)
    return weights


def save_optimized(data: bytes, arrays: Mapping[str, np.ndarray], threads: int | None,
                   folder: str) -> None:
    """Save the model ``data`` (its external weights ``arrays``) in ``folder`` as
    onnxruntime optimizes it on this CPU (:data:`SAVED_MODEL`, its weights over 1 KiB in
    :data:`SAVED_WEIGHTS`): a CPU session is made for that and dropped.

    Example:
        >>> save_optimized(model_bytes, {}, 1, "/tmp/ort-saved")     # doctest: +SKIP
    """
    opts = session_options(threads)
    weights = _add_weights(opts, arrays)
    opts.optimized_model_filepath = os.path.join(folder, SAVED_MODEL)
    opts.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", SAVED_WEIGHTS)
    opts.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    del weights


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
        return self.compile_bytes(model.SerializeToString(),
                                  [node.op_type for node in model.graph.node],
                                  len(graph.inputs), len(graph.outputs))

    def compile_bytes(self, data: bytes | None, op_types: Sequence[str], n_inputs: int,
                      n_outputs: int, saved: str | None = None) -> GraphRunner | None:
        """:meth:`compile_model` of a serialized model (``op_types``: its nodes' op types;
        inputs ``in0...``, outputs ``out0...``): no ``onnx`` import, no re-serializing.

        With ``saved``, a folder where onnxruntime saved this model as it optimized it
        (:func:`save_optimized`, on this CPU and onnxruntime), the session is made from
        that (:data:`SAVED_MODEL`, :data:`SAVED_WEIGHTS`) with its graph optimizations
        off: the same session in a fraction of the time. On a CPU the runner's
        ``save_optimized(folder)`` saves the model so (a second session: the load cache
        calls it off the load's path, as saving costs as much as the compile itself).
        """
        wrong = departures_in(op_types)
        if wrong:
            self._fall_back(f"would compute wrong results: onnxruntime "
                            f"{onnxruntime.__version__} {describe(wrong)}")
            return None
        opts = session_options(self.options.threads)
        weights: list[Any] = []
        if saved is not None:
            opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            source: bytes | str = os.path.join(saved, SAVED_MODEL)
        else:
            weights = _add_weights(opts, self.weight_arrays)
            source = data  # type: ignore[assignment]
        session = onnxruntime.InferenceSession(source, opts, providers=providers(self.options))
        names = [f"in{k}" for k in range(n_inputs)]
        outputs = [f"out{k}" for k in range(n_outputs)]

        call = direct_run(session, self.options)

        def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            return call(outputs, {n: c_contiguous(x) for n, x in zip(names, feeds)}, None)

        run.session = session  # type: ignore[attr-defined]
        run.native = (call, names, outputs)  # type: ignore[attr-defined]  (Plan.unchecked)
        if self.options.device_kind == "cpu":  # Plan.io_binding
            run.io_binding = lambda buffers: Binding(session, names, outputs, buffers) \
                if binds_in_place() else None  # type: ignore[attr-defined]
        run.weights = weights  # type: ignore[attr-defined]  (the session reads them)
        run.save_optimized = None  # type: ignore[attr-defined]
        if saved is None and data is not None and self.options.device_kind == "cpu":
            run.save_optimized = functools.partial(  # type: ignore[attr-defined]
                save_optimized, data, dict(self.weight_arrays), self.options.threads)
        return run


__all__ = ["ORT_PASSES", "SAVED_MODEL", "SAVED_WEIGHTS", "OrtPlanBackend", "direct_run",
           "export_for_plan", "providers", "save_optimized", "session_options"]
