"""``Function``: a block of operations with a user-written backward (MegEngine's API).

Example:
    >>> import mge, mge.functional as F
    >>> from mge.autodiff import GradManager
    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, dy):
    ...         return 2 * self.x * dy
    >>> x = mge.tensor([3.0])
    >>> with GradManager().attach(x) as gm:
    ...     gm.backward(Square()(x))
    >>> x.grad.numpy()
    array([6.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..tensor.base import Tensor
from .context import GradContext
from .grad import active_sessions, record


def call_with_rule(forward: Callable[[], Any], inputs: Sequence[Tensor],
                   rule: Callable[[GradContext], list[Tensor | None]], name: str) -> Any:
    """Run ``forward()`` (a Tensor or a tuple of Tensors computed from ``inputs``) with
    ``rule`` as its gradient: the ops inside are not recorded; the outputs get fresh
    identities whose tape node calls ``rule(ctx)`` (one gradient per input, ``None``
    for none). Where no session records, ``forward()`` just runs."""
    sessions = [g for g in active_sessions() if g.recording]
    if not sessions:
        return forward()
    for g in sessions:
        g.suppress()
    try:
        result = forward()
    finally:
        for g in sessions:
            g.resume()
    single = isinstance(result, Tensor)
    outputs = (result,) if single else tuple(result)
    # fresh output tensors: the tape's vars belong to them, not to the forward's values
    outputs = tuple(Tensor._wrap(t._data, t._shape, t._dtype, t._backend, t._device)
                    for t in outputs)
    record(None, inputs, outputs, rule=rule, name=name)
    return outputs[0] if single else outputs


class Function:
    """Subclass and define ``forward(*tensors)`` and ``backward(*output_grads)``.

    ``forward`` runs untracked; ``backward`` gets one gradient per output (``None``
    for outputs that received none) and returns one per input (a Tensor when there is
    one input; ``None`` stops propagation). Use each instance once.
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation: Tensors in, a Tensor or a tuple of Tensors out."""
        raise NotImplementedError

    def backward(self, *output_grads: Tensor | None) -> Any:
        """Gradients of the inputs from the gradients of the outputs."""
        raise NotImplementedError

    def __call__(self, *args: Tensor) -> Any:
        for arg in args:
            if not isinstance(arg, Tensor):
                raise TypeError(f"op Function expect type Tensor as inputs, got {type(arg)}")
        return call_with_rule(lambda: self.forward(*args), args, self._rule,
                              name=f"Function {type(self).__name__}")

    def _rule(self, ctx: GradContext) -> list[Tensor | None]:
        got = self.backward(*ctx.grads)
        if isinstance(got, Tensor) or got is None:
            got = (got,)
        return list(got)

    def __getstate__(self) -> dict:
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


__all__ = ["Function", "call_with_rule"]
