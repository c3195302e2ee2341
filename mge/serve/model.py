"""A served model: mge.lite networks sharing one set of weights, one per batch size.

:class:`ServedModel` checks request tensors against the model's inputs (names, datatypes,
shapes; dimension 0 is the batch when batching is on), runs a batch on a free network and
describes itself in the protocol's metadata format.

A batching model runs only the batch sizes of :func:`batch_sizes` (the powers of two below
``max_batch_size``, and ``max_batch_size``): it holds ``instances`` networks for each size,
each compiled for its one shape when the model loads, so no request waits for a plan to be
built (mge.lite compiles a plan per input shape and keeps only a few). The batcher forms
batches of exactly these sizes where it can; a batch of another size is padded with zero rows
up to the next size and the padding's outputs are dropped.

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

from ..lite import LiteConfig, LiteIO, LiteLayout, LiteNetwork, LiteNetworkIO
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


def batch_sizes(max_batch_size: int) -> tuple[int, ...]:
    """The batch sizes a model with this ``max_batch_size`` runs (``(1,)`` without batching).

    Example:
        >>> batch_sizes(24)
        (1, 2, 4, 8, 16, 24)
    """
    sizes = [1]
    while sizes[-1] * 2 < max_batch_size:
        sizes.append(sizes[-1] * 2)
    if max_batch_size > 1:
        sizes.append(max_batch_size)
    return tuple(sizes)


class ServedModel:
    """One model version loaded ``spec.instances`` times per batch size for concurrent
    batches, every network compiled and run once (on zeros) before serving."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        config = LiteConfig()
        config.plan_backend = spec.backend
        first = self._network(config)
        first.load(str(spec.path))
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
        self.batch_sizes = batch_sizes(spec.max_batch_size)
        self._free: dict[int, queue.SimpleQueue[LiteNetwork]] = {}
        unused = [first]
        for size in self.batch_sizes:
            self._free[size] = queue.SimpleQueue()
            for _ in range(spec.instances):
                network = unused.pop() if unused else self._sharing(first, config, size)
                self._warm_up(network, size)
                self._free[size].put(network)

    def _warm_up(self, network: LiteNetwork, size: int) -> None:
        """Run ``network`` once on zeros in batches of ``size``: its plan is built and the
        backend's first-run work done before any request comes."""
        for spec in self.inputs:
            shape = (size, *spec.shape[1:]) if self.batching else spec.shape
            network.get_io_tensor(spec.name).set_data_by_copy(np.zeros(shape, spec.dtype))
        network.forward()
        network.wait()

    def _network(self, config: LiteConfig, io: LiteNetworkIO | None = None) -> LiteNetwork:
        network = LiteNetwork(config, io)
        network.threads_number = self.spec.threads
        return network

    def _sharing(self, first: LiteNetwork, config: LiteConfig, size: int) -> LiteNetwork:
        """A network sharing ``first``'s weights, its inputs configured for batches of
        ``size`` (so it compiles its plan once, for that shape)."""
        io = LiteNetworkIO([LiteIO(t.name, layout=LiteLayout(
            [size, *t.shape[1:]] if self.batching else list(t.shape), t.dtype))
            for t in self.inputs])
        network = self._network(config, io)
        network.share_weights_with(first)
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
        seconds the network ran. A batch between two of :attr:`batch_sizes` is padded with
        zero rows to the larger (the padding's outputs are dropped). Thread-safe: up to
        ``instances`` batches run at once."""
        rows = next(iter(inputs.values())).shape[0] if self.batching else 1
        size = next(s for s in self.batch_sizes if s >= rows)
        pool = self._free[size]
        network = pool.get()
        try:
            for name, array in inputs.items():
                if size > rows:
                    array = np.concatenate([array, np.zeros((size - rows, *array.shape[1:]),
                                                            array.dtype)])
                network.get_io_tensor(name).set_data_by_share(np.ascontiguousarray(array))
            start = time.perf_counter()
            network.forward()
            network.wait()
            seconds = time.perf_counter() - start
            outputs = {t.name: network.get_io_tensor(t.name).to_numpy() for t in self.outputs}
        finally:
            pool.put(network)
        if size > rows:
            outputs = {n: v[:rows] for n, v in outputs.items()}
        return outputs, seconds

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
                    "preferred_batch_size": list(self.batch_sizes),
                    "max_queue_delay_microseconds": int(self.spec.max_queue_delay_ms * 1000)}
                if self.batching else {},
                "instance_group": [{"count": self.spec.instances, "kind": "KIND_CPU"}]}


__all__ = ["ServedModel", "TensorSpec", "batch_sizes"]
