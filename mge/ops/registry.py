"""Where an op family's kernels and rules register, at the ops layer.

A family home (``mge/ops/<family>/``) registers its numpy kernels with :data:`NUMPY`,
its torch kernels with :data:`TORCH`, its export rules with :func:`onnx_rule` /
:func:`batch_rule` and its gradient rules with :func:`grad_rule`; each stores the
function on the op class (``cls.kernels``, ``cls.preparers``, ``cls.onnx_rule``,
``cls.batch_rule``, ``cls.grad_rule``). The backends
(``mge/backends/<name>``) import the family kernel modules and read the op classes;
the ONNX exporter (``mge/convert/onnx/exporter``) asks the op for its rules. Nothing
here imports a backend or the exporter.

A kernel is ``kernel(op, *arrays) -> array | tuple[array, ...]``. A *preparer*
``prepare(op, site) -> Prepared | None`` specialises the kernel once for what is known
where it runs (:class:`PrepareSite`: constants, donated inputs, the plan host).

Example:
    >>> from mge.ops.elemwise import PowC
    >>> @NUMPY.kernel(PowC)                                     # doctest: +SKIP
    ... def pow_c(op, x):
    ...     return x ** op.exp
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..core.opdef import Kernel, OpDef, TensorInfo


class Unsupported(Exception):
    """Raised by an export rule: the op (with these params or inputs) has no form in the
    target format (the message says why)."""


class Prepared(NamedTuple):
    """A prepared kernel: ``fn(*arrays)`` on the op inputs listed in ``args``.

    ``inplace`` is the index of the op input the result is written into, if any.
    """

    fn: Callable[..., Any]
    args: tuple[int, ...]
    inplace: int | None = None


@dataclasses.dataclass
class PrepareSite:
    """What is known when an op's kernel is prepared.

    Attributes:
        inputs, outputs: infos of the op's inputs and outputs.
        consts: for each input, its constant value (numpy) or ``None``.
        donated: for each input, whether the kernel may overwrite it (nothing reads it
            afterwards and it is not a user or constant buffer).
        host: the plan backend preparing it (device, dtype and layout conversions, the
            shared weight cache, scratch buffers), or ``None`` in eager execution.
        in_graph: the kernel serves one op node of a graph, run after run, also without
            a plan host (the graph interpreter): random ops then keep a state per node.
    """

    inputs: Sequence[TensorInfo]
    outputs: Sequence[TensorInfo]
    consts: tuple[np.ndarray | None, ...] = ()
    donated: tuple[bool, ...] = ()
    host: Any = None
    in_graph: bool = dataclasses.field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        self.consts = self.consts or (None,) * len(self.inputs)
        self.donated = self.donated or (False,) * len(self.inputs)

    def all_args(self) -> tuple[int, ...]:
        return tuple(range(len(self.inputs)))

    def donated_like_output(self) -> int | None:
        """The first donated input with the first output's shape (a buffer the kernel can
        write its result into), or ``None``."""
        shape = self.outputs[0].shape
        return next((k for k, v in enumerate(self.inputs)
                     if self.donated[k] and v.shape == shape), None)


#: ``preparer(op, site) -> Prepared | None`` (``None``: run the plain kernel)
Preparer = Callable[[OpDef, PrepareSite], "Prepared | None"]


class KernelTable:
    """The decorators one backend's kernels register with (``NUMPY``, ``TORCH``)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def kernel(self, *ops: type[OpDef]) -> Callable[[Kernel], Kernel]:
        """Decorator registering ``fn`` as this backend's kernel of the op classes."""
        return self._register("kernels", ops)

    def preparer(self, *ops: type[OpDef]) -> Callable[[Preparer], Preparer]:
        """Decorator registering ``fn(op, site)`` as this backend's preparation of the ops."""
        return self._register("preparers", ops)

    def _register(self, table: str, ops: Sequence[type[OpDef]]) -> Callable[[Any], Any]:
        def deco(fn: Any) -> Any:
            for cls in ops:
                getattr(cls, table)[self.backend] = fn
            return fn

        return deco

    def __repr__(self) -> str:
        return f"<kernel table {self.backend}>"


NUMPY = KernelTable("numpy")
TORCH = KernelTable("torch")


def _rule_decorator(slot: str) -> Callable[..., Callable[[Callable], Callable]]:
    def register(*ops: type[OpDef]) -> Callable[[Callable], Callable]:
        def deco(fn: Callable) -> Callable:
            for cls in ops:
                if cls.__dict__.get(slot) is not None:
                    raise ValueError(f"{slot} of {cls.type_name} registered twice")
                setattr(cls, slot, staticmethod(fn))
            return fn

        return deco

    register.__doc__ = f"Decorator registering ``fn`` as the ``{slot}`` of the op classes."
    return register


#: ``onnx_rule(ctx, node, inputs) -> outputs``: the op's ONNX export rule
onnx_rule = _rule_decorator("onnx_rule")
#: ``batch_rule(node, dims) -> dims``: how the op carries a dynamic batch axis
batch_rule = _rule_decorator("batch_rule")
#: ``grad_rule(op, ctx) -> input gradients``: the op's reverse-mode rule, written with ops
#: through ``ctx`` (``mge.core.autodiff.GradContext``) so every backend runs it
grad_rule = _rule_decorator("grad_rule")

__all__ = ["NUMPY", "TORCH", "KernelTable", "PrepareSite", "Prepared", "Preparer",
           "Unsupported", "batch_rule", "grad_rule", "onnx_rule"]
