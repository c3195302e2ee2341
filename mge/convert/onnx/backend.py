"""mge as an ONNX backend (``onnx.backend.base.Backend``), as onnxruntime ships one.

Two ways to run a model, one class each:

- :class:`MgeBackend` (eager): :func:`from_onnx` with ``trace=False``; the imported
  module runs ``mge.functional`` calls on the current eager backend.
- :class:`MgeLiteBackend`: the model is converted to a ``.mge`` file in memory
  (:func:`~.importer.mge_file.onnx_to_mge_bytes`) and run by ``mge.lite``, which is how a
  deployment runs it.

Outputs come back with the element type and rank the ONNX model declares where mge's
storage differs in form only: ``INT64`` values, which mge holds as int32 (as MegEngine
does), are widened back, and a scalar that the ``.mge`` format stores with shape ``(1,)``
is returned 0-d. A model mge cannot import raises :class:`OnnxError` from ``prepare``.

Example:
    >>> rep = MgeBackend.prepare(onnx.load("model.onnx"))          # doctest: +SKIP
    >>> (probs,) = rep.run([image])                                # doctest: +SKIP
    >>> MgeLiteBackend.run_model(model, [image])                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper
from onnx.backend.base import Backend, BackendRep

from ...lite import LiteNetwork
from ...tensor import Tensor
from .importer import from_onnx
from .importer.mge_file import onnx_to_mge_bytes

#: ONNX element types mge stores narrower, and the numpy type they are returned as
_WIDENED = {TensorProto.INT64: np.dtype("int64")}


def _declared_outputs(model: ModelProto) -> list[tuple[np.dtype | None, int | None]]:
    """Per graph output: the numpy type to widen to (or None) and the declared rank."""
    declared = []
    for value in model.graph.output:
        ttype = value.type.tensor_type
        rank = len(ttype.shape.dim) if ttype.HasField("shape") else None
        declared.append((_WIDENED.get(ttype.elem_type), rank))
    return declared


def _runtime_input_names(model: ModelProto) -> list[str]:
    initialized = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initialized]


class MgeBackendRep(BackendRep):
    """A prepared model: ``run(inputs)`` returns one numpy array per ONNX graph output."""

    def __init__(self, model: ModelProto, lite: bool) -> None:
        self._declared = _declared_outputs(model)
        self._input_names = _runtime_input_names(model)
        self._output_names = [o.name for o in model.graph.output]
        self._network: LiteNetwork | None = None
        self._module: Any = None
        if lite:
            self._network = LiteNetwork()
            self._network.load(onnx_to_mge_bytes(model))
        else:
            self._module = from_onnx(model, trace=False)

    def _feeds(self, inputs: Any) -> list[np.ndarray]:
        if isinstance(inputs, Mapping):
            inputs = [inputs[name] for name in self._input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if len(inputs) != len(self._input_names):
            raise ValueError(f"the model takes {len(self._input_names)} input(s) "
                             f"{self._input_names}, got {len(inputs)}")
        return [np.asarray(x) for x in inputs]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        feeds = self._feeds(inputs)
        if self._network is not None:
            network = self._network
            present = set(network.get_all_input_name())  # unread inputs are not in .mge
            for name, value in zip(self._input_names, feeds):
                if name in present:
                    network.get_io_tensor(name).set_data_by_copy(value)
            network.forward()
            network.wait()
            outputs = [network.get_io_tensor(name).to_numpy() for name in self._output_names]
        else:
            result = self._module(*(Tensor(x) for x in feeds))
            result = result if isinstance(result, tuple) else (result,)
            outputs = [r.numpy() for r in result]
        return tuple(self._declared_form(k, out) for k, out in enumerate(outputs))

    def _declared_form(self, index: int, out: np.ndarray) -> np.ndarray:
        widen, rank = self._declared[index]
        if rank == 0 and out.shape == (1,):
            out = out.reshape(())
        if widen is not None and out.dtype.kind == widen.kind and out.dtype != widen:
            out = out.astype(widen)
        return out


class MgeBackend(Backend):
    """ONNX backend running imported models eagerly (``from_onnx(trace=False)``)."""

    lite = False

    @classmethod
    def prepare(cls, model: ModelProto, device: str = "CPU", **kwargs: Any) -> MgeBackendRep:
        """Import ``model``; raises :class:`OnnxError` when mge cannot run it."""
        super().prepare(model, device, **kwargs)
        return MgeBackendRep(model, cls.lite)

    @classmethod
    def run_node(cls, node: NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run one node on numpy inputs (a one-node model; outputs need ``outputs_info``
        only for their declared types, which default to the first input's)."""
        super().run_node(node, inputs, device, outputs_info, **kwargs)
        arrays = [np.asarray(x) for x in inputs]
        names = [n for n in node.input if n]
        graph_inputs = [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for name, a in zip(names, arrays)]
        infos = outputs_info or [(arrays[0].dtype, None)] * len(node.output)
        graph_outputs = [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
            for name, (dtype, shape) in zip(node.output, infos)]
        graph = helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        opset = kwargs.get("opset_version")
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset)] if opset else None)
        return cls.prepare(model, device).run(arrays)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """mge runs ONNX models on the CPU."""
        return device == "CPU"


class MgeLiteBackend(MgeBackend):
    """ONNX backend converting models to ``.mge`` and running them with ``mge.lite``."""

    lite = True


__all__ = ["MgeBackend", "MgeBackendRep", "MgeLiteBackend"]
