"""``GradManager``: attach tensors, record a computation, back-propagate into ``.grad``.

Semantics follow MegEngine 1.13: ``attach`` persists across uses (tensors are held by
weak reference), callbacks run on each gradient before it is accumulated into
``.grad``, ``backward`` releases the recording, and nested managers see the
computations of inner managers' backward passes (higher-order gradients), while
managers entered together (``gm1 | gm2``) do not see each other's.

Example:
    >>> import mge, mge.functional as F
    >>> x = mge.tensor([0.0, 1.0])
    >>> gm = GradManager().attach(x)
    >>> with gm:
    ...     gm.backward(F.sin(x).sum())
    >>> x.grad.numpy().round(4)
    array([1.    , 0.5403], dtype=float32)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..core.autodiff import Grad
from ..core.autodiff.future import Future, pop_backwarding, push_backwarding
from ..core.tensor.base import Tensor


class _AttachSpec:
    __slots__ = ("tensor", "callbacks")

    def __init__(self, tensor: weakref.ref, callbacks: list[Callable]) -> None:
        self.tensor, self.callbacks = tensor, callbacks


class GradManager:
    """Reverse-mode autodiff over the operations recorded between ``record`` and
    ``backward`` (or inside ``with gm:``), for the attached tensors."""

    def __init__(self) -> None:
        self._attach_specs: dict[int, _AttachSpec] = {}
        self._recording = False
        self._grad: Grad | None = None
        self._after_backward_callback: list[Callable[[], Any]] = []
        self._gradients: dict[int, Tensor] = {}

    def attached_tensors(self) -> list[Tensor]:
        """The attached tensors that are still alive, in attach order."""
        return [t for t in (spec.tensor() for spec in self._attach_specs.values())
                if t is not None]

    def attach(self, tensors: Tensor | Iterable[Tensor],
               callbacks: Callable | Iterable[Callable] | None = None) -> GradManager:
        """Track ``tensors`` (float only) so that ``backward`` computes their gradients.

        ``callbacks(tensor, grad) -> grad`` run in order on each gradient before it is
        accumulated into ``tensor.grad``; attaching a tensor again adds callbacks.
        """
        if callbacks is None:
            callbacks = []
        elif callable(callbacks):
            callbacks = [callbacks]
        if isinstance(tensors, Tensor):
            tensors = [tensors]
        for x in tensors:
            assert isinstance(x, Tensor), "Object to be attached should be Tensor"
            assert x.dtype.kind == "f", (
                "Only tensors of floating point dtype can be attached to get gradients, "
                f"get tensor dtype: {x.dtype} and shape: {x.shape}")
            spec = self._attach_specs.get(id(x))
            if spec is None:
                spec = _AttachSpec(self._weak(x), [])
                self._attach_specs[id(x)] = spec
                if self._recording:
                    self._do_record(spec)
            spec.callbacks.extend(callbacks)
        return self

    def _weak(self, x: Tensor) -> weakref.ref:
        selfref, key = weakref.ref(self), id(x)

        def forget(_: Any) -> None:
            manager = selfref()
            if manager is not None:
                manager._attach_specs.pop(key, None)

        return weakref.ref(x, forget)

    def _register_after_backward_callback(self, callback: Callable[[], Any]) -> GradManager:
        self._after_backward_callback.append(callback)
        return self

    def backward(self, y: Tensor | list[Tensor] | None = None,
                 dy: Tensor | list[Tensor] | None = None) -> None:
        """Accumulate ``dy``-weighted gradients of ``y`` into the attached tensors' ``.grad``
        (``dy`` defaults to ones), then release the recording."""
        if not self._recording:
            raise RuntimeError("no computation history. did you forget record() or call a "
                               "method that clears the history?")
        ys = [] if y is None else list(y) if isinstance(y, (tuple, list)) else [y]
        if dy is None:
            dys = [Tensor(np.ones(t.shape, t.dtype), device=t.device) for t in ys]
        else:
            dys = list(dy) if isinstance(dy, (tuple, list)) else [dy]
        push_backwarding(self)
        try:
            self._grad(ys, dys)
            for callback in self._after_backward_callback:
                callback()
            for key, grad in self._gradients.items():
                if isinstance(grad, Future):  # e.g. from distributed's all-reduce callback
                    grad = grad.get()
                spec = self._attach_specs.get(key)
                tensor = spec.tensor() if spec is not None else None
                if tensor is None:
                    continue
                if tensor.grad is None:
                    tensor.grad = grad
                else:
                    tensor.grad += grad
        finally:
            pop_backwarding()
            self.release()

    def record(self) -> None:
        """Start recording operations (``backward`` or ``release`` end it)."""
        if self._recording:
            raise RuntimeError("already recording")
        self._grad = Grad()
        self._recording = True
        self._grad.__enter__()
        for spec in self._attach_specs.values():
            self._do_record(spec)

    def _do_record(self, spec: _AttachSpec) -> None:
        tensor = spec.tensor()
        if tensor is None:
            return
        # weak references only: the tensor holds this callback through its tape entry
        selfref, key = weakref.ref(self), id(tensor)

        def callback(grad: Tensor) -> None:
            manager, target = selfref(), spec.tensor()
            if manager is None or target is None:
                return
            for cb in spec.callbacks:
                grad = cb(target, grad)
            manager._gradients[key] = grad

        self._grad.wrt(tensor, callback=callback)

    def release(self) -> None:
        """Stop recording and drop the recorded history."""
        if self._grad is not None:
            self._grad.__exit__(None, None, None)
            self._grad = None
        self._recording = False
        self._gradients = {}

    def __enter__(self) -> GradManager:
        self.record()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __or__(self, other: Any) -> GradManagerGroup:
        if isinstance(other, GradManager):
            return GradManagerGroup([self, other])
        return NotImplemented

    __ror__ = __or__


class GradManagerGroup:
    """Managers that record together (``with gm1 | gm2:``) and do not see each other's
    backward computations."""

    def __init__(self, gms: Iterable[GradManager]) -> None:
        self._gms = list(gms)

    def merge_with(self, other: Any) -> GradManagerGroup:
        if isinstance(other, GradManager):
            other = GradManagerGroup([other])
        elif not isinstance(other, GradManagerGroup):
            return NotImplemented
        return GradManagerGroup([*self._gms, *other._gms])

    __or__ = merge_with
    __ror__ = merge_with

    def __enter__(self) -> None:
        Grad.begin_group()
        try:
            for gm in self._gms:
                gm.record()
        finally:
            Grad.end_group()

    def __exit__(self, *exc: Any) -> None:
        for gm in reversed(self._gms):
            gm.release()


__all__ = ["GradManager", "GradManagerGroup"]
