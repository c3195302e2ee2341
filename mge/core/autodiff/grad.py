"""mge's reverse-mode tape: ``Grad`` sessions record ``apply`` calls and run them backwards.

A :class:`Grad` (MegEngine's ``GradKey``) is one recording session. Tensors it tracks
carry a :class:`Var` for it in ``Tensor._tape``; ``wrt`` makes a tensor a tracked leaf
with a callback that receives its gradient. While a session records, every ``apply``
whose inputs it tracks adds a :class:`Node` holding the op, detached copies of the
inputs and outputs, and the inputs' vars. ``backward(ys, dys)`` walks the nodes in
reverse topological order and calls each op class's ``grad_rule`` (see
:class:`~mge.core.autodiff.context.GradContext`); ops without a rule raise naming
the op. The tape is mge's own on every backend: rules are written with ops, so
each backend differentiates through the same rules.

Sessions have levels (their nesting depth; a group entered together shares one).
The computations a rule runs during one session's backward are recorded by sessions
of lower level only, which is how MegEngine orders nested ``GradManager``\\ s and how
higher-order gradients come about.

Example:
    >>> import mge
    >>> x = mge.tensor([1.0, 2.0])
    >>> got = {}
    >>> with Grad() as g:
    ...     _ = g.wrt(x, callback=lambda dx: got.setdefault("dx", dx))
    ...     y = x * x
    ...     g([y], [mge.tensor([1.0, 1.0])])
    >>> got["dx"].numpy()
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...ops.shape import Broadcast
from ..apply import add_recorder, apply, remove_recorder
from ..opdef import OpDef
from ..tensor.base import Tensor
from .context import GradContext, add_grads
from .future import take_kept

#: sessions entered and not yet exited, outermost first
_active: list[Grad] = []
_names = itertools.count()
_backward_passes = 0


class Var:
    """A tensor's identity in one session: produced by ``node`` (output ``index``) or a
    leaf (``node is None``); ``callback`` receives the gradient of a ``wrt`` tensor."""

    __slots__ = ("node", "index", "callback")

    def __init__(self, node: Node | None = None, index: int = 0) -> None:
        self.node, self.index = node, index
        self.callback: Callable[[Tensor], Any] | None = None


class Node:
    """One recorded op: its backward ``rule``, saved inputs/outputs and the input vars."""

    __slots__ = ("op", "rule", "inputs", "outputs", "in_vars", "name")

    def __init__(self, op: OpDef | None, rule: Callable[..., Any] | None, name: str,
                 inputs: tuple, outputs: tuple, in_vars: list[Var | None]) -> None:
        self.op, self.rule, self.name = op, rule, name
        self.inputs, self.outputs, self.in_vars = inputs, outputs, in_vars


def differentiable(t: Tensor) -> bool:
    """Float tensors carry gradients; integer and bool ones never do."""
    return t._dtype.kind == "f"


class Grad:
    """One recording session (MegEngine ``core.autodiff.grad.Grad``).

    Args:
        name: a name for messages (default ``grad_<n>``).
    """

    #: while True, the sessions entered share one level (``GradManager | GradManager``)
    grouping: bool = False
    _group_level: int | None = None

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"grad_{next(_names)}"
        self.level = -1
        self.suppressed = 0

    @property
    def recording(self) -> bool:
        return self.level >= 0 and not self.suppressed

    def var_of(self, t: Tensor) -> Var | None:
        """``t``'s var in this session, if it tracks ``t``."""
        tape = t._tape
        return tape.get(self) if tape else None

    def wrt(self, *tensors: Tensor, callback: Callable[[Tensor], Any] | None = None) -> Grad:
        """Track ``tensors`` from now on; ``callback(grad)`` receives each one's gradient."""
        for t in tensors:
            var = self.var_of(t)
            if var is None:
                var = Var()
                live = {g: v for g, v in (t._tape or {}).items() if g.level >= 0}
                t._tape = {**live, self: var}
            var.callback = callback
        return self

    def __enter__(self) -> Grad:
        if Grad.grouping and Grad._group_level is not None:
            self.level = Grad._group_level
        else:
            self.level = max((g.level for g in _active), default=-1) + 1
            if Grad.grouping:
                Grad._group_level = self.level
        _active.append(self)
        add_recorder(record)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in _active:
            _active.remove(self)
        self.level = -1
        if not _active:
            remove_recorder(record)

    @staticmethod
    def begin_group() -> None:
        """Sessions entered until :meth:`end_group` share one level."""
        Grad.grouping, Grad._group_level = True, None

    @staticmethod
    def end_group() -> None:
        Grad.grouping, Grad._group_level = False, None

    def suppress(self) -> None:
        """Stop recording until :meth:`resume` (calls nest)."""
        self.suppressed += 1

    def resume(self) -> None:
        self.suppressed -= 1

    def __call__(self, ys: Tensor | Sequence[Tensor], dys: Tensor | Sequence[Tensor | None]
                 ) -> None:
        """Back-propagate ``dys`` from ``ys`` (a tensor or a sequence of them, as in
        MegEngine); call the leaves' callbacks."""
        if not isinstance(ys, Sequence):
            ys = [ys]
        if not isinstance(dys, Sequence):
            dys = [dys]
        if self.level < 0:
            raise RuntimeError(f"{self.name}: backward needs an active (entered) session")
        if len(ys) != len(dys):
            raise ValueError(f"backward: {len(ys)} tensors but {len(dys)} gradients")
        kept = take_kept(self)  # outputs of collectives this process must backward too
        ys = [*ys, *kept]
        dys = [*dys, *(Tensor(np.zeros(t.shape, t.dtype), device=t.device) for t in kept)]
        global _backward_passes
        _backward_passes += 1
        inner = [g for g in _active if g.level >= self.level]
        for g in inner:
            g.suppress()
        try:
            self._backward(ys, dys)
        finally:
            for g in inner:
                g.resume()

    def _backward(self, ys: Sequence[Tensor], dys: Sequence[Tensor | None]) -> None:
        pending: dict[Node, list[Tensor | None]] = {}
        leaves: list[tuple[Var, Tensor]] = []

        def accumulate(var: Var, grad: Tensor) -> None:
            if var.callback is not None:
                leaves.append((var, grad))
            if var.node is not None:
                slot = pending.setdefault(var.node, [None] * len(var.node.outputs))
                slot[var.index] = add_grads(slot[var.index], grad)

        roots = []
        for y, dy in zip(ys, dys):
            var = self.var_of(y)
            if var is None or dy is None:
                continue
            if tuple(dy.shape) != tuple(y.shape):
                dy = _broadcast_dy(dy, tuple(y.shape))
            accumulate(var, dy.astype(y.dtype) if dy.dtype != y.dtype else dy)
            roots.append(var)
        for node in _reverse_topological(roots):
            out_grads = pending.pop(node, None)
            if out_grads is None or node.inputs is None:
                continue
            in_grads = self._run_rule(node, out_grads)
            for var, grad in zip(node.in_vars, in_grads):
                if var is not None and grad is not None:
                    accumulate(var, grad)
            node.inputs = node.outputs = None  # free what the rule kept alive
        merged: dict[int, tuple[Var, Tensor]] = {}
        for var, grad in leaves:
            prev = merged.get(id(var))
            merged[id(var)] = (var, grad if prev is None else add_grads(prev[1], grad))
        for var, grad in merged.values():
            var.callback(grad)

    def _run_rule(self, node: Node, out_grads: list[Tensor | None]) -> list[Tensor | None]:
        if node.rule is None:
            raise NotImplementedError(
                f"no gradient rule for {node.name}: mge cannot differentiate through it "
                f"(session {self.name})")
        ctx = GradContext(node.inputs, node.outputs, out_grads,
                          [var is not None for var in node.in_vars])
        got = node.rule(ctx) if node.op is None else node.rule(node.op, ctx)
        got = list(got)
        if len(got) != len(node.inputs):
            raise RuntimeError(f"the gradient rule of {node.name} returned {len(got)} "
                               f"gradients for {len(node.inputs)} inputs")
        for x, g in zip(node.inputs, got):
            if g is not None and tuple(g.shape) != tuple(x.shape):
                raise RuntimeError(f"the gradient rule of {node.name} returned shape "
                                   f"{tuple(g.shape)} for an input of shape {tuple(x.shape)}")
        return got


def _broadcast_dy(dy: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``dy`` broadcast to its output's ``shape`` (MegEngine accepts a broadcastable
    gradient, e.g. ``(1,)`` for any shape); a ``ValueError`` when it is not."""
    try:
        ok = np.broadcast_shapes(tuple(dy.shape), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"backward: dy {tuple(dy.shape)} does not match y {shape}")
    return apply(Broadcast(shape=shape), dy)[0]


def _reverse_topological(roots: list[Var]) -> list[Node]:
    """Nodes reachable from ``roots``, each after every node that consumes its outputs."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(v.node, False) for v in roots if v.node is not None]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for var in node.in_vars:
            if var is not None and var.node is not None and id(var.node) not in seen:
                stack.append((var.node, False))
    order.reverse()
    return order


def recording() -> bool:
    """True when some session records (``apply`` then calls :func:`record`)."""
    return any(g.recording for g in _active)


def _saved(t: Tensor, level: int) -> Tensor:
    """``t``'s data for a rule: tracked only by sessions below ``level`` (higher order)."""
    copy = Tensor._wrap(t._data, t._shape, t._dtype, t._backend, t._device)
    if t._tape:
        outer = {g: v for g, v in t._tape.items() if 0 <= g.level < level}
        copy._tape = outer or None
    return copy


def record(op: OpDef | None, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
           rule: Callable[..., Any] | None = None, name: str | None = None) -> None:
    """Add a node for ``op`` (or a custom ``rule``) to every recording session tracking
    one of ``inputs``; give the float outputs vars of those sessions."""
    for g in sorted((g for g in _active if g.recording), key=lambda g: g.level):
        in_vars = [g.var_of(t) for t in inputs]
        if not any(in_vars) or not any(differentiable(t) for t in outputs):
            continue
        node = Node(op, rule if op is None else type(op).grad_rule,
                    name or (f"{op}" if op is not None else "a custom Function"),
                    tuple(_saved(t, g.level) for t in inputs),
                    tuple(_saved(t, g.level) for t in outputs), in_vars)
        for k, t in enumerate(outputs):
            if differentiable(t):
                t._tape = {**(t._tape or {}), g: Var(node, k)}


def backward_passes() -> int:
    """How many backward passes ran in this process (``jit.trace`` asks whether a traced
    call trained)."""
    return _backward_passes


def active_sessions() -> list[Grad]:
    """The entered sessions, outermost first."""
    return list(_active)


__all__ = ["Grad", "Node", "Var", "active_sessions", "backward_passes", "record", "recording"]
