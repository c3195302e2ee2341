"""A served model: ``instances`` mge.lite networks sharing one set of weights.

:class:`ServedModel` checks request tensors against the model's inputs (names, datatypes,
shapes; dimension 0 is the batch when batching is on), runs a batch on a free network (mge.lite
re-plans for each new batch size and keeps the plans) and describes itself in the protocol's
metadata format.

Example:
    >>> model = ServedModel(discover("mobilenet_v2.mge", ServeDefaults())[0])  # doctest: +SKIP
    >>> model.run({"input": images})["probs"].shape                            # doctest: +SKIP
    (4, 1001)
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..lite import LiteConfig, LiteNetwork
from .protocol import ProtocolError, datatype_of
from .repository import ModelSpec


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, dtype and shape (``-1`` for the batch dimension)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": datatype_of(self.dtype), "shape": list(self.shape)}


class ServedModel:
    """One model version loaded ``spec.instances`` times for concurrent batches."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        config = LiteConfig()
        config.plan_backend = spec.backend
        first = self._network(config)
        first.load(str(spec.path))
        networks = [first]
        for _ in range(spec.instances - 1):
            network = self._network(config)
            network.share_weights_with(first)
            networks.append(network)
        self._free: queue.SimpleQueue[LiteNetwork] = queue.SimpleQueue()
        for network in networks:
            self._free.put(network)
        batch = -1 if spec.max_batch_size > 0 else None
        self.inputs = [self._tensor(first, n, batch) for n in first.get_all_input_name()]
        self.outputs = [self._tensor(first, n, batch) for n in first.get_all_output_name()]
        if batch is not None:
            flat = [t.name for t in self.inputs + self.outputs if not t.shape]
            if flat:
                raise ValueError(f"model {spec.name!r}: tensors {flat} have no dimension to "
                                 "batch on; set max_batch_size 0 for this model")
        output_names = [t.name for t in self.outputs]
        if spec.classifier_output is not None and spec.classifier_output not in output_names:
            raise ValueError(f"model {spec.name!r}: classifier_output "
                             f"{spec.classifier_output!r} is not an output; outputs: "
                             f"{output_names}")

    def _network(self, config: LiteConfig) -> LiteNetwork:
        network = LiteNetwork(config)
        network.threads_number = self.spec.threads
        return network

    @staticmethod
    def _tensor(network: LiteNetwork, name: str, batch: int | None) -> TensorSpec:
        layout = network.get_io_tensor(name).layout
        shape = tuple(int(d) for d in layout.shapes)
        if batch is not None and shape:
            shape = (batch, *shape[1:])
        return TensorSpec(name, np.dtype(layout.np_dtype), shape)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def batching(self) -> bool:
        return self.spec.max_batch_size > 0

    @property
    def classifier_output(self) -> str:
        return self.spec.classifier_output or self.outputs[0].name

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> int:
        """Check names, dtypes and shapes; return the batch size (1 without batching)."""
        expected = {t.name: t for t in self.inputs}
        unknown = sorted(set(inputs) - set(expected))
        missing = sorted(set(expected) - set(inputs))
        if unknown or missing:
            raise ProtocolError(400, f"model {self.name!r} takes inputs {sorted(expected)}; "
                                     f"unknown: {unknown}, missing: {missing}")
        rows = set()
        for name, array in inputs.items():
            spec = expected[name]
            if array.dtype != spec.dtype:
                raise ProtocolError(400, f"input {name!r} of model {self.name!r} is "
                                         f"{datatype_of(spec.dtype)}, got "
                                         f"{datatype_of(array.dtype)}")
            fits = len(array.shape) == len(spec.shape) and all(
                want in (-1, got) for want, got in zip(spec.shape, array.shape))
            if not fits:
                raise ProtocolError(400, f"input {name!r} of model {self.name!r} has shape "
                                         f"{list(spec.shape)}, got {list(array.shape)}")
            if self.batching:
                rows.add(array.shape[0])
        if len(rows) > 1:
            raise ProtocolError(400, f"inputs of model {self.name!r} disagree on the batch "
                                     f"size: {sorted(rows)}")
        batch = rows.pop() if rows else 1
        if self.batching and not 1 <= batch <= self.spec.max_batch_size:
            raise ProtocolError(400, f"model {self.name!r} takes batches of 1 to "
                                     f"{self.spec.max_batch_size}, got {batch}")
        return batch

    def run(self, inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
        """Run one (already checked) batch on a free network; returns the outputs and the
        seconds the network ran. Thread-safe: up to ``instances`` batches run at once."""
        network = self._free.get()
        try:
            for name, array in inputs.items():
                network.get_io_tensor(name).set_data_by_share(np.ascontiguousarray(array))
            start = time.perf_counter()
            network.forward()
            network.wait()
            seconds = time.perf_counter() - start
            return {t.name: network.get_io_tensor(t.name).to_numpy() for t in self.outputs}, \
                seconds
        finally:
            self._free.put(network)

    def metadata(self) -> dict[str, Any]:
        """The protocol's model metadata object."""
        return {"name": self.name, "versions": [self.version], "platform": "mge_lite",
                "inputs": [t.metadata() for t in self.inputs],
                "outputs": [t.metadata() for t in self.outputs]}

    def config(self) -> dict[str, Any]:
        """Triton's model configuration object (what tritonclient's get_model_config reads)."""
        def entry(t: TensorSpec) -> dict[str, Any]:
            dims = list(t.shape[1:] if self.batching else t.shape)
            return {"name": t.name, "data_type": f"TYPE_{datatype_of(t.dtype)}", "dims": dims}

        return {"name": self.name, "platform": "mge_lite",
                "max_batch_size": self.spec.max_batch_size,
                "input": [entry(t) for t in self.inputs],
                "output": [entry(t) for t in self.outputs],
                "dynamic_batching": {
                    "max_queue_delay_microseconds": int(self.spec.max_queue_delay_ms * 1000)}
                if self.batching else {},
                "instance_group": [{"count": self.spec.instances, "kind": "KIND_CPU"}]}


__all__ = ["ServedModel", "TensorSpec"]
