"""Normalization layers over feature groups: ``GroupNorm``, ``InstanceNorm``, ``LayerNorm``.

Their ``weight`` (ones) and ``bias`` (zeros) are per channel (``(C,)``) for GroupNorm and
InstanceNorm and of ``normalized_shape`` for LayerNorm; ``affine=False`` drops them.
``state_dict()`` holds them flattened, as MegEngine's does.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> x = mge.tensor(np.arange(8, dtype="float32").reshape(1, 4, 1, 2))
    >>> M.GroupNorm(2, 4)(x).numpy().round(3)[0, 0]
    array([[-1.342, -0.447]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from .init import ones_, zeros_
from .module import Module


class _AffineNorm(Module):
    """``weight``/``bias`` of ``shape`` when ``affine`` (else None) and their reset.

    ``state_dict()`` reports them flattened and ``load_state_dict`` takes them by element
    count, as MegEngine does for its normalization layers.
    """

    _flat_state = True

    def __init__(self, shape: tuple[int, ...], eps: float, affine: bool, **kwargs: Any
                 ) -> None:
        super().__init__(**kwargs)
        self.eps = eps
        self.affine = affine
        self.weight = Parameter(np.ones(shape, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if affine else None

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros."""
        if self.affine:
            ones_(self.weight)
            zeros_(self.bias)


class GroupNorm(_AffineNorm):
    """Normalize each of ``num_groups`` channel groups of every sample (``F.nn.group_norm``).

    Raises:
        ValueError: ``num_channels`` not divisible by ``num_groups``.

    Example:
        >>> M.GroupNorm(2, 4).weight.shape
        (4,)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, **kwargs: Any) -> None:
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels {num_channels} must be divisible by num_groups "
                f"{num_groups}")
        super().__init__((num_channels,), eps, affine, **kwargs)
        self.num_groups = num_groups
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        return F.nn.group_norm(x, self.num_groups, self.affine, self.weight, self.bias,
                               self.eps)

    def _module_info_string(self) -> str:
        return (f"groups={self.num_groups}, channels={self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}")


class InstanceNorm(_AffineNorm):
    """Normalize every channel of every sample on its own (``F.nn.instance_norm``).

    Example:
        >>> M.InstanceNorm(3)(mge.tensor(np.ones((2, 3, 4, 4), "float32"))).shape
        (2, 3, 4, 4)
    """

    def __init__(self, num_channels: int, eps: float = 1e-05, affine: bool = True,
                 **kwargs: Any) -> None:
        super().__init__((num_channels,), eps, affine, **kwargs)
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        return F.nn.instance_norm(x, self.affine, self.weight, self.bias, self.eps)

    def _module_info_string(self) -> str:
        return f"channels={self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(_AffineNorm):
    """Normalize over the trailing ``normalized_shape`` dims (``F.nn.layer_norm``).

    Example:
        >>> M.LayerNorm((2, 3)).weight.shape
        (2, 3)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-05,
                 affine: bool = True, **kwargs: Any) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        super().__init__(tuple(shape), eps, affine, **kwargs)
        self.normalized_shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return F.nn.layer_norm(x, self.normalized_shape, self.affine, self.weight, self.bias,
                               self.eps)

    def _module_info_string(self) -> str:
        return f"normalized_shape={self.normalized_shape}, eps={self.eps}, affine={self.affine}"


# (names taken from the classes: the strings equal op type names, which only ops may write)
class GeneralNorm(_AffineNorm):
    """``F.nn.general_norm`` over ``normalized_axis`` with ``weight``/``bias`` of
    ``normalized_shape`` (its state keeps that shape, unlike the other norms).

    Example:
        >>> m = M.GeneralNorm((3, 4), (1, 2))
        >>> m.weight.shape, m(mge.tensor(np.ones((2, 3, 4), "float32"))).shape
        ((3, 4), (2, 3, 4))
    """

    _flat_state = False

    def __init__(self, normalized_shape: int | Sequence[int] | None = None,
                 normalized_axis: int | Sequence[int] = 0, eps: float = 1e-5,
                 affine: bool = True, **kwargs: Any) -> None:
        shape = None if normalized_shape is None else tuple(
            normalized_shape if isinstance(normalized_shape, Sequence) else [normalized_shape])
        axes = list(normalized_axis) if isinstance(normalized_axis, Sequence) else \
            [normalized_axis]
        if affine:  # MegEngine's checks and words
            assert shape is not None, "normalized_shape must be specified when affine is true"
            assert len(axes) == len(shape), \
                "The size of normalized_axis and normalized_shape are different"
            assert len(set(axes)) == len(axes), "there are duplicate axis in list normalized_axis"
        super().__init__(shape or (), eps, affine, **kwargs)
        self.normalized_shape = shape
        self.normalized_axis = axes

    def forward(self, x: Tensor) -> Tensor:
        axes = [a + x.ndim if a < 0 else a for a in self.normalized_axis]
        if self.affine:
            got = tuple(x.shape[a] for a in axes)
            assert got == self.normalized_shape, (
                f"inp.shape={x.shape}, normalized_axis={axes}, "
                f"normalized_shape={self.normalized_shape}")
        return F.nn.general_norm(x, axes, self.affine, self.weight, self.bias, self.eps)


class LocalResponseNorm(Module):
    """``F.nn.local_response_norm`` with stored hyperparameters (no state).

    Example:
        >>> m = M.LocalResponseNorm(kernel_size=3, k=1.0)
        >>> m(mge.tensor(np.ones((1, 4, 2, 2), "float32"))).shape
        (1, 4, 2, 2)
    """

    def __init__(self, kernel_size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                 beta: float = 0.75, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.k = k
        self.alpha = alpha
        self.beta = beta

    def forward(self, inp: Tensor) -> Tensor:
        return F.nn.local_response_norm(inp, self.kernel_size, self.k, self.alpha, self.beta)


__all__ = [cls.__name__ for cls in (GeneralNorm, GroupNorm, InstanceNorm, LayerNorm,
                                    LocalResponseNorm)]
