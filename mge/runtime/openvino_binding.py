"""An OpenVINO infer request bound to arrays, for repeated runs on the same arrays.

``InferRequest.infer(inputs)`` goes through OpenVINO's Python data dispatch every run
(an ``openvino.Tensor`` made for every input, the request's tensors set again, a result
dictionary of fresh output copies); around a 0.2-1 ms model that was ~20 us of CPU a
forward, and the plan's checks around it ~15 us more. :class:`Binding` does it once, as
:class:`mge.runtime.ort_binding.Binding` does for onnxruntime: each input is set to a
tensor sharing its array's memory (new values written into the same array are read by
the next run; another array object is bound again), each output to a buffer of the
caller's that every run writes into, and a run is the native ``infer`` with nothing to
dispatch. The binding has an infer request of its own (the plan's general run keeps
setting its request's tensors to the arrays of each call).

That the CPU plugin reads a bound input in place (not a copy taken when it was set) is
checked once per process on a one-node model (:func:`binds_in_place`): where it does not
hold, no binding is made.

Example:
    >>> binding = Binding(compiled, ["in0"], [np.empty((1, 10), np.float32)])  # doctest: +SKIP
    >>> binding.bind("in0", x); binding.run()                                  # doctest: +SKIP
    >>> binding.outputs[0]                                                     # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import openvino
from openvino._pyopenvino import InferRequest as NativeRequest


@functools.cache
def binds_in_place() -> bool:
    """Whether this OpenVINO's CPU plugin reads an input tensor that shares a numpy
    array's memory at each run (values written into the array after binding are what
    the next run reads) and writes bound output buffers."""
    from openvino import opset13

    x = opset13.parameter([4], np.float32, name="x")
    model = openvino.Model([opset13.relu(x)], [x], "relu")
    try:
        compiled = openvino.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1})
        data, out = np.zeros(4, np.float32), np.full(4, -1.0, np.float32)
        binding = Binding(compiled, ["x"], [out])
        binding.bind("x", data)
        data[...] = [1, 2, 3, 4]
        binding.run()
    except Exception:  # noqa: BLE001  (no binding where the plugin refuses one)
        return False
    return bool(np.array_equal(out, data))


class Binding:
    """An infer request of ``compiled`` bound to arrays: :meth:`bind` an input array (the
    caller keeps it, and binds again when it is another array), :meth:`run`, read
    :attr:`outputs` (the same buffers every run: each run overwrites them).

    Args:
        compiled: an OpenVINO compiled model.
        input_keys: the caller's key of each of the model's inputs, in order.
        outputs: one C-contiguous, writeable buffer per model output, of its shape and
            element type.
    """

    def __init__(self, compiled: Any, input_keys: Sequence[str],
                 outputs: Sequence[np.ndarray]) -> None:
        self._request = compiled.create_infer_request()
        for k, buf in enumerate(outputs):
            self._request.set_output_tensor(k, openvino.Tensor(_bindable(f"output {k}", buf),
                                                               shared_memory=True))
        self._index = {key: k for k, key in enumerate(input_keys)}
        #: the array bound to each input (kept alive here: the request reads its memory)
        self._bound: list[np.ndarray | None] = [None] * len(self._index)
        #: the output buffers, in the model's output order
        self.outputs = list(outputs)
        #: ``run()``: one run on the bound arrays (the native call: nothing dispatched;
        #: its result, views of the buffers by port, is not needed). It keeps the binding
        #: (and so its arrays) alive: the request holds only their memory's address
        self.run: Callable[[], Any] = functools.partial(NativeRequest.infer, self._request,
                                                        {}, True, False)
        self.run.binding = self  # type: ignore[attr-defined]

    def bind(self, key: str, array: np.ndarray) -> None:
        """Bind input ``key`` to ``array`` (C-contiguous and writeable, the input's shape
        and dtype), no copy: the binding keeps ``array`` alive while it is bound.

        Raises:
            ValueError: ``array`` is not C-contiguous or not writeable (OpenVINO shares
                only writeable memory).
        """
        k = self._index[key]
        self._request.set_input_tensor(k, openvino.Tensor(_bindable(f"input {key!r}", array),
                                                          shared_memory=True))
        self._bound[k] = array


def _bindable(what: str, array: np.ndarray) -> np.ndarray:
    """``array`` if OpenVINO can share its memory, else a ``ValueError`` naming ``what``."""
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: a bound array must be C-contiguous (shape "
                         f"{array.shape}, strides {array.strides})")
    if not array.flags.writeable:
        raise ValueError(f"{what}: a bound array must be writeable (shape {array.shape}, "
                         f"dtype {array.dtype})")
    return array


__all__ = ["Binding", "binds_in_place"]
