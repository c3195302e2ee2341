"""torch kernels for quantized dtypes: ``TypeCvt`` to and from them runs the numpy
reference (:mod:`.numpy_kernels`) on the tensor's values, so eager quantization on the
torch backend gives the numpy backend's integers exactly.

Example:
    >>> import mge                                            # doctest: +SKIP
    >>> mge.set_default_backend("torch")                      # doctest: +SKIP
"""

from __future__ import annotations

import torch

from ...core.opdef import OpDef
from ..elemwise import TypeCvt
from ..elemwise import torch_kernels as _elemwise_kernels  # noqa: F401 - wrapped here
from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import to_numpy
from .numpy_kernels import _quantized_target, type_cvt

_plain = TypeCvt.kernels["torch"]
_prepare = TypeCvt.preparers.get("torch")


def _via_numpy(op: OpDef, dtypes: list, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(type_cvt(op, dtypes, to_numpy(x))).to(x.device)


@TORCH.kernel(TypeCvt)
def quantized_type_cvt(op: TypeCvt, x: torch.Tensor) -> torch.Tensor:
    """A float conversion (torch has no dtype parameters: quantized targets go through
    the numpy reference)."""
    if _quantized_target(op, []):
        return _via_numpy(op, [to_numpy(x).dtype], x)
    return _plain(op, x)


@TORCH.preparer(TypeCvt)
def prepare_quantized_type_cvt(op: TypeCvt, site: PrepareSite) -> Prepared | None:
    dtypes = [i.dtype for i in site.inputs]
    if _quantized_target(op, dtypes):
        return Prepared(lambda x: _via_numpy(op, dtypes, x), (0,))
    return _prepare(op, site) if _prepare is not None else None
