"""The ``onnxruntime`` plan backend: a whole graph as one onnxruntime session.

The plan's graph (after the inference passes) is exported to ONNX in memory with
:func:`mge.convert.onnx.exporter.export_graph` and run by a single
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

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import onnxruntime

from ..graph.ir import Graph, VarNode
from .plan import (
    PLAN_BACKENDS,
    BindSite,
    BoundOp,
    PlanBackend,
    PlanOptions,
    WeightCache,
    available_plan_backends,
    register_plan_backend,
)

#: the graph passes run before export: MegEngine's inference passes and conv fusion
ORT_PASSES = ("remove_noop", "bn_to_elemwise", "fold_constants", "arith_reorder",
              "fold_conv_scale", "fold_constants", "arith_fuse", "fuse_conv_bias")
_COMPUTE = (None, "float32", "float16")

#: ``run(feeds) -> outputs``: a compiled graph, numpy arrays in and out
GraphRunner = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


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


def export_for_plan(graph: Graph, compute_dtype: str | None) -> Any:
    """The ONNX model of a plan's graph (inputs ``in0...``, outputs ``out0...``)."""
    from ..convert.onnx.exporter import export_graph

    if compute_dtype == "float16":
        from ..graph.passes import run_passes

        graph = graph.copy()
        run_passes(graph, ["float16"])
    return export_graph(graph, input_names=[f"in{k}" for k in range(len(graph.inputs))],
                        output_names=[f"out{k}" for k in range(len(graph.outputs))],
                        check=False)  # onnxruntime checks the model it loads


#: initializers above this size go to onnxruntime as arrays, not inside the model bytes
_EXTERNAL_BYTES = 1024


def detach_weights(model: Any) -> tuple[list[str], list[Any]]:
    """Take the large initializers' data out of ``model`` (in place): their names and
    ``OrtValue``s, for ``SessionOptions.add_external_initializers``.

    Serializing the weights into the model bytes and parsing them again in onnxruntime
    was most of a plan's load time; the tensors stay in the model as declarations
    (shape, dtype, external location) whose data onnxruntime takes from the arrays.
    The ``OrtValue``s hold their arrays and must outlive the session.
    """
    from onnx import TensorProto, numpy_helper

    names, values = [], []
    for init in model.graph.initializer:
        if len(init.raw_data) <= _EXTERNAL_BYTES:
            continue
        array = numpy_helper.to_array(init)
        names.append(init.name)
        values.append(onnxruntime.OrtValue.ortvalue_from_numpy(array))
        init.ClearField("raw_data")
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for key, value in (("location", "mge-plan-weights"), ("offset", "0"),
                           ("length", str(array.nbytes))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value
    return names, values


def c_contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` itself when C-contiguous, else a contiguous copy (0-d arrays always are)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


@register_plan_backend
class OrtPlanBackend(PlanBackend):
    """One onnxruntime session per plan (CPU provider, or CUDA where available)."""

    name = "onnxruntime"
    priority = 30
    devices = ("cpu", "gpu")
    eager = "numpy"
    passes = ORT_PASSES

    def __init__(self, options: PlanOptions, weights: WeightCache) -> None:
        super().__init__(options, weights)
        self.key = (self.name, options.device, str(options.compute_dtype))
        self._delegate: PlanBackend | None = None

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in _COMPUTE:
            return f"plan backend 'onnxruntime' computes in float32 or float16, not " \
                   f"{options.compute_dtype}"
        if options.device_kind == "gpu" and \
                "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return f"device {options.device!r}: this onnxruntime has no CUDA provider"
        return super().unavailable(options)

    # ------------------------------------------------------------ whole graph
    def compile_graph(self, graph: Graph) -> GraphRunner | None:
        """One session for the whole graph; ``None`` (after a warning) when some op has
        no ONNX form, and the ops are then bound to another backend's kernels."""
        from ..convert.onnx import UnsupportedOpError

        try:
            model = export_for_plan(graph, self.options.compute_dtype)
        except UnsupportedOpError as exc:
            self._fall_back(f"cannot export the graph to ONNX ({exc})")
            return None
        opts = session_options(self.options.threads)
        weight_names, weights = detach_weights(model)
        if weight_names:
            opts.add_external_initializers(weight_names, weights)
        session = onnxruntime.InferenceSession(model.SerializeToString(), opts,
                                               providers=providers(self.options))
        names = [f"in{k}" for k in range(len(graph.inputs))]
        outputs = [f"out{k}" for k in range(len(graph.outputs))]

        def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            return session.run(outputs, {n: c_contiguous(x) for n, x in zip(names, feeds)})

        run.session = session  # type: ignore[attr-defined]
        run.weights = weights  # type: ignore[attr-defined]  (the session reads them)
        return run

    def _fall_back(self, why: str) -> PlanBackend:
        if self._delegate is None:
            others = [n for n in available_plan_backends(self.options) if n != self.name]
            if not others:
                raise RuntimeError(f"plan backend 'onnxruntime' {why}, and no other plan "
                                   "backend can run the graph")
            warnings.warn(f"plan backend 'onnxruntime' {why}; running the graph on "
                          f"plan backend {others[0]!r}", stacklevel=4)
            self._delegate = PLAN_BACKENDS[others[0]](self.options, self.weights)
        return self._delegate

    # ------------------------------------------------------------ op by op (fallback)
    def bind(self, site: BindSite) -> BoundOp:
        delegate = self._fall_back("binds no single ops")
        return delegate.bind(dataclasses.replace(site, host=delegate))

    def const(self, value: np.ndarray) -> Any:
        return self._delegate.const(value) if self._delegate else super().const(value)

    def asarray(self, value: np.ndarray) -> Any:
        return self._delegate.asarray(value) if self._delegate else value

    def feed(self, value: np.ndarray, var: VarNode) -> Any:
        return self._delegate.feed(value, var) if self._delegate else value

    def fetch(self, array: Any, var: VarNode) -> np.ndarray:
        if self._delegate is not None:
            return self._delegate.fetch(array, var)
        return np.asarray(array, var.dtype)

    def session(self) -> AbstractContextManager:
        return self._delegate.session() if self._delegate else contextlib.nullcontext()

    def synchronize(self) -> None:
        if self._delegate is not None:
            self._delegate.synchronize()


__all__ = ["ORT_PASSES", "OrtPlanBackend", "detach_weights", "export_for_plan", "providers",
           "session_options"]
