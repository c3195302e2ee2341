"""Small modules around a single ``F`` call: Identity, Dropout, Elemwise, Concat, Pad.

They exist so that the call appears as a module (a named node for TracedModule and
quantisation), as in MegEngine.

Example:
    >>> import mge, mge.module as M
    >>> M.Elemwise("ADD")(mge.tensor([1.0]), mge.tensor([2.0])).numpy()
    array([3.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class Identity(Module):
    """Returns a copy of its input (``F.copy``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.copy(x)


class Dropout(Module):
    """Zeroes elements with probability ``drop_prob`` in training (scaling the rest by
    ``1 / (1 - drop_prob)``); the identity in eval mode.

    Example:
        >>> import mge, mge.module as M
        >>> d = M.Dropout(0.5)
        >>> d.eval()
        >>> d(mge.tensor([1.0, 2.0])).numpy()
        array([1., 2.], dtype=float32)
    """

    def __init__(self, drop_prob: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drop_prob = drop_prob

    def forward(self, inputs: Tensor) -> Tensor:
        if self.training:
            return F.dropout(inputs, self.drop_prob, training=True)
        return inputs

    def _module_info_string(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Elemwise(Module):
    """One elementwise op by MegEngine mode name (``"ADD"``, ``"FUSE_ADD_RELU"``, ...)."""

    def __init__(self, method: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method = method

    def forward(self, *inps: Any) -> Tensor:
        return F.elemwise.elemwise(self.method.upper(), *inps)


class Concat(Module):
    """``F.concat(inps, axis)``."""

    def forward(self, inps: Iterable[Tensor], axis: int = 0) -> Tensor:
        return F.concat(inps, axis)


class Pad(Module):
    """``F.nn.pad`` with fixed ``pad_width`` (one ``(before, after)`` pair per axis).

    Args:
        pad_width: pairs of pad sizes, one per leading axis.
        mode: ``"constant"``, ``"reflect"`` or ``"replicate"``.
        constant_val: the fill value for ``"constant"``.
    """

    def __init__(
        self,
        pad_width: tuple[tuple[int, int], ...],
        mode: str = "constant",
        constant_val: float = 0.0,
    ) -> None:
        super().__init__()
        self.pad_width = pad_width
        self.mode = mode
        self.pad_val = constant_val

    def forward(self, src: Tensor) -> Tensor:
        return F.nn.pad(src, pad_width=self.pad_width, mode=self.mode,
                        constant_value=self.pad_val)


__all__ = ["Concat", "Dropout", "Elemwise", "Identity", "Pad"]
