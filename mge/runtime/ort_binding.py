"""An onnxruntime IO binding of a plan's session, for repeated runs on the same arrays.

``session.run`` turns every input array into an ``OrtValue`` and every result into a new
numpy array, each run: on a sub-millisecond model that is ~8 us of a forward, in place.
An IO binding does it once: each input is bound to its array (zero copy: the engine
reads the array's memory, so new values written into the same array are seen; a new
array object is bound again) and each output to a buffer the engine writes into every
run. :class:`Binding` is what ``Plan.io_binding`` hands to a caller that keeps arrays
across runs (``mge.lite``'s fast forward).

Zero copy is checked once per process on a one-node model (an onnxruntime that copies
bound inputs would run on stale data): where it does not hold, no binding is made.

Example:
    >>> binding = Binding(session, ["in0"], ["out0"], [np.empty((1, 10), np.float32)])
    >>> binding.bind("in0", x); binding.run()                          # doctest: +SKIP
    >>> binding.outputs[0]                                             # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnxruntime


@functools.cache
def binds_in_place() -> bool:
    """Whether this onnxruntime binds CPU numpy inputs without copying them (values
    written into a bound array after binding are what the next run reads)."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [value("x", TensorProto.FLOAT, [4])],
                              [value("y", TensorProto.FLOAT, [4])])
    opsets = [helper.make_opsetid("", 13)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        x, y = np.zeros(4, np.float32), np.zeros(4, np.float32)
        binding = Binding(session, ["x"], ["y"], [y])
        binding.bind("x", x)
        x[...] = [1, 2, 3, 4]
        binding.run()
    except Exception:  # noqa: BLE001  (an onnxruntime without IO binding: none is made)
        return False
    return bool(np.array_equal(y, x))


class Binding:
    """``session``'s IO binding: :meth:`bind` an input array (the caller keeps it, and
    binds again when it is another array), :meth:`run`, read :attr:`outputs` (the same
    buffers every run: each run overwrites them)."""

    def __init__(self, session: Any, input_names: Sequence[str], output_names: Sequence[str],
                 outputs: Sequence[np.ndarray]) -> None:
        self._binding = session.io_binding()
        for name, buf in zip(output_names, outputs, strict=True):
            if not buf.flags.c_contiguous:
                raise ValueError(f"output {name!r}: a bound buffer must be C-contiguous")
            self._binding.bind_output(name, "cpu", 0, buf.dtype.type, list(buf.shape),
                                      buf.ctypes.data)
        self.input_names = list(input_names)
        #: the array bound to each input (kept alive here: onnxruntime reads its memory)
        self._inputs: dict[str, np.ndarray] = {}
        #: the output buffers, in ``output_names`` order
        self.outputs = list(outputs)
        #: ``run()``: one run on the bound arrays (the native call, nothing around it). It
        #: keeps the binding (and so its output buffers) alive: onnxruntime holds only
        #: their addresses
        self.run: Callable[[], None] = functools.partial(
            session._sess.run_with_iobinding, self._binding._iobinding, None)
        self.run.binding = self  # type: ignore[attr-defined]

    def bind(self, name: str, array: np.ndarray) -> None:
        """Bind input ``name`` to ``array`` (C-contiguous, the input's shape and dtype),
        no copy: the binding keeps ``array`` alive while it is bound."""
        if not array.flags.c_contiguous:
            raise ValueError(f"input {name!r}: a bound array must be C-contiguous")
        self._binding.bind_cpu_input(name, array)
        self._inputs[name] = array


__all__ = ["Binding", "binds_in_place"]
