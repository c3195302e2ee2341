"""The base of plan backends that run a whole graph through mge's ONNX lowering.

The plan's graph (after the inference passes) is exported to ONNX in memory with
:func:`mge.convert.onnx.exporter.export_graph` (inputs ``in0...``, outputs ``out0...``)
and handed to an inference engine (onnxruntime, OpenVINO) as one compiled model per
plan. A graph the exporter cannot express (an op without an ONNX form) still runs: the
backend warns and hands every op to the best other plan backend.

Example:
    >>> class MyEngine(OnnxGraphBackend):                    # doctest: +SKIP
    ...     name = "my-engine"
    ...     def compile_model(self, model, graph): ...       # returns a GraphRunner
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..graph.ir import Graph, VarNode
from .plan import (
    PLAN_BACKENDS,
    BindSite,
    BoundOp,
    PlanBackend,
    available_plan_backends,
)

#: the graph passes run before export: MegEngine's inference passes and conv fusion,
#: then the conv epilogue's residual rule (a residual add with a per-channel bias becomes
#: one ConvBias, exported as ``Conv`` with its bias and one ``Add``, the form the engines
#: fuse; ``RELU6`` after a ``Conv`` is exported as ``Clip``, which they fuse already)
ONNX_PASSES = ("remove_noop", "bn_to_elemwise", "fold_constants", "arith_reorder",
               "fold_conv_scale", "fold_constants", "arith_fuse", "fuse_conv_bias",
               "conv_residual")

#: the opset plans are exported in: 14 has ``HardSwish`` (one op the engines run fused,
#: where opset 13 spells it ``x * HardSigmoid(x)``)
PLAN_OPSET = 14

#: the session of a compiled graph: nothing to enter (one shared, reentrant object: a
#: forward of a small model should not build one)
_NO_SESSION = contextlib.nullcontext()

#: ``run(feeds) -> outputs``: a compiled graph, numpy arrays in and out
GraphRunner = Callable[[Sequence[np.ndarray]], list[np.ndarray]]

#: the list :func:`capture_exports` is collecting into now (``None``: none)
_CAPTURED: ContextVar[list[tuple[Any, Any]] | None] = ContextVar("plan_onnx_captured",
                                                                 default=None)


@contextlib.contextmanager
def capture_exports() -> Iterator[list[tuple[Any, Any]]]:
    """Collect ``(backend, onnx model)`` for every graph a whole-graph backend compiles
    in the block (the model as handed to the engine; its external weights are the
    backend's ``weight_arrays``): what a load cache stores.

    Example:
        >>> with capture_exports() as exported:                     # doctest: +SKIP
        ...     plan = Plan(graph, PlanOptions(backend="onnxruntime"))
        >>> exported[0][0] is plan.backend                          # doctest: +SKIP
        True
    """
    found: list[tuple[Any, Any]] = []
    token = _CAPTURED.set(found)
    try:
        yield found
    finally:
        _CAPTURED.reset(token)


def export_for_plan(graph: Graph, compute_dtype: str | None,
                    external: dict[str, np.ndarray] | None = None) -> Any:
    """The ONNX model of a plan's graph (inputs ``in0...``, outputs ``out0...``); with
    ``compute_dtype="float16"`` its float tensors are converted to float16 first. With
    ``external`` (a dict, filled here), the large weights stay arrays, by initializer
    name, and the model only declares them (see ``export_graph(external_weights=)``)."""
    from ..convert.onnx.exporter import export_graph

    if compute_dtype == "float16":
        from ..graph.passes import run_passes

        graph = graph.copy()
        run_passes(graph, ["float16"])
    return export_graph(graph, opset=PLAN_OPSET,
                        input_names=[f"in{k}" for k in range(len(graph.inputs))],
                        output_names=[f"out{k}" for k in range(len(graph.outputs))],
                        check=False,  # the engine checks the model it loads
                        external_weights=external)


def c_contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` itself when C-contiguous, else a contiguous copy (0-d arrays always are)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


class OnnxGraphBackend(PlanBackend):
    """A plan backend compiling the whole graph from its ONNX form; subclasses implement
    :meth:`compile_model` and say which ``compute_dtype`` the ONNX model is exported in."""

    eager = "numpy"
    passes = ONNX_PASSES

    def __init__(self, options: Any, weights: Any) -> None:
        super().__init__(options, weights)
        self.key = (self.name, options.device, str(options.compute_dtype))
        self._delegate: PlanBackend | None = None
        self.weight_arrays: dict[str, np.ndarray] | None = None

    def export_dtype(self) -> str | None:
        """The compute dtype the graph is exported in (the engine may lower it further)."""
        return self.options.compute_dtype

    def external_weights(self) -> dict[str, np.ndarray] | None:
        """A dict to export the large weights into as arrays (kept out of the model's
        bytes: the engine must take them as arrays), or ``None`` to keep them inside.
        The dict is kept in :attr:`weight_arrays` for :meth:`compile_model`."""
        self.weight_arrays = None
        return None

    def compile_model(self, model: Any, graph: Graph) -> GraphRunner | None:
        """The engine's runner for ``model``, the ONNX form of ``graph`` (``None`` after
        ``_fall_back`` when the engine should not take the model)."""
        raise NotImplementedError

    def compile_graph(self, graph: Graph) -> GraphRunner | None:
        """One compiled model for the whole graph; ``None`` (after a warning) when some
        op has no ONNX form, and the ops are then bound to another backend's kernels."""
        from ..convert.onnx import UnsupportedOpError

        try:
            model = export_for_plan(graph, self.export_dtype(), self.external_weights())
        except UnsupportedOpError as exc:
            self._fall_back(f"cannot export the graph to ONNX ({exc})")
            return None
        runner = self.compile_model(model, graph)
        found = _CAPTURED.get()
        if found is not None and runner is not None:
            found.append((self, model))
        return runner

    def _fall_back(self, why: str) -> PlanBackend:
        if self._delegate is None:
            others = [n for n in available_plan_backends(self.options)
                      if not issubclass(PLAN_BACKENDS[n], OnnxGraphBackend)]
            if not others:
                raise RuntimeError(f"plan backend {self.name!r} {why}, and no other plan "
                                   "backend can run the graph")
            warnings.warn(f"plan backend {self.name!r} {why}; running the graph on "
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
        return self._delegate.session() if self._delegate else _NO_SESSION

    def synchronize(self) -> None:
        if self._delegate is not None:
            self._delegate.synchronize()


__all__ = ["ONNX_PASSES", "PLAN_OPSET", "GraphRunner", "OnnxGraphBackend", "c_contiguous",
           "capture_exports", "export_for_plan"]
