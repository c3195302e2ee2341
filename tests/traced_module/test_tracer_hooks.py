"""The tracer hears of ``Tensor(...)`` constructions through the explicit tensor-init
observers of ``mge.core.tracing``; it never swaps ``Tensor.__init__``."""

from __future__ import annotations

import numpy as np

import mge.module as M
from mge import Tensor
from mge.core.tracing import TENSOR_INIT_OBSERVERS, observe_tensor_init
from mge.traced_module import trace_module
from mge.traced_module.expr import CallFunction

_CAPTURED_INIT = Tensor.__init__  # what a subclass defined at import time may hold on to


class Scaled(Tensor):
    """A user subclass calling the ``__init__`` it captured before any tracing."""

    def __init__(self, data: object, factor: float = 2.0) -> None:
        _CAPTURED_INIT(self, np.asarray(data, np.float32) * factor)


def test_tracing_leaves_tensor_init_alone() -> None:
    seen = []

    class Net(M.Module):
        def forward(self, x: Tensor) -> Tensor:
            seen.append(Tensor.__init__)
            return Tensor([1, x]) + Scaled([1.0, 1.0]) + x

    traced = trace_module(Net(), Tensor(1.0))
    assert seen == [_CAPTURED_INIT]
    assert not TENSOR_INIT_OBSERVERS
    made = [e for e in traced.graph._exprs if isinstance(e, CallFunction)]
    assert [e.func for e in made] == [Tensor]  # Tensor([1, x]) depends on x; Scaled(...) does not
    np.testing.assert_array_equal(traced(Tensor(3.0)).numpy(), [6.0, 8.0])


def test_observer_gets_given_arguments_and_is_removed() -> None:
    seen = []
    with observe_tensor_init(lambda t, args, kwargs: seen.append((t.shape, args, kwargs))):
        Tensor(np.zeros(2, np.float32), dtype="float16", name="a")
        Tensor([1.0], "float32")
    assert not TENSOR_INIT_OBSERVERS
    assert seen[0][0] == (2,) and seen[0][2] == {"dtype": "float16", "name": "a"}
    assert seen[1][1] == ([1.0],) and seen[1][2] == {"dtype": "float32"}
    Tensor([1.0])  # no observer left: nothing recorded
    assert len(seen) == 2
