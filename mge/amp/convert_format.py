"""``convert_tensor_format`` and ``convert_module_format``: tag NCHW tensors ``"nhwc"``.

MegEngine's format transformation keeps values and shapes logical (NCHW) and records the
layout a backend may choose in ``Tensor.format``; ops that keep the layout carry the tag
on (see ``OpDef.format_rule``). Tensors of 4 or 5 dimensions not already ``"nhwc"`` are
converted; the others are returned as they are.

Example:
    >>> import mge
    >>> x = mge.tensor([[[[1.0, 2.0]]]])
    >>> y = convert_tensor_format(x, inplace=False)
    >>> y.format, y.shape, x.format
    ('nhwc', (1, 1, 1, 2), 'default')
"""

from __future__ import annotations

import copy

from ..module import Module
from ..tensor import Tensor

_NHWC = "nhwc"


def _is_nchw(x: Tensor) -> bool:
    return x.ndim in (4, 5) and x.format != _NHWC


def convert_tensor_format(x: Tensor, inplace: bool = True) -> Tensor:
    """Tag a 4-d or 5-d tensor ``"nhwc"``: ``x`` itself when ``inplace`` (its data, shape
    and gradient tracking kept), else a new tensor of the same values."""
    if not _is_nchw(x):
        return x
    if inplace:
        x.format = _NHWC
        return x
    return Tensor(x.numpy(), dtype=x.dtype, device=x.device, format=_NHWC)


def convert_module_format(module: Module, inplace: bool = True) -> Module:
    """Tag every 4-d and 5-d parameter and buffer of ``module`` ``"nhwc"`` (of a deep copy
    when not ``inplace``); returns the converted module.

    Example:
        >>> import mge.module as M
        >>> bn = convert_module_format(M.BatchNorm2d(4))
        >>> bn.weight.format, bn.weight.shape
        ('nhwc', (1, 4, 1, 1))
    """
    if not inplace:
        module = copy.deepcopy(module)
    for _, tensor in module.named_tensors():
        convert_tensor_format(tensor, inplace=True)
    return module


__all__ = ["convert_module_format", "convert_tensor_format"]
