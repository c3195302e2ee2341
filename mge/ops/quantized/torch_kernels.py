"""torch kernels for quantized dtypes: the ops on quantized tensors run the numpy
reference (:mod:`.numpy_kernels`) on the tensors' values (torch has no dtypes with a
scale), so the torch backend gives the numpy backend's integers exactly; float inputs
keep the torch kernels.

Example:
    >>> import mge                                            # doctest: +SKIP
    >>> mge.set_default_backend("torch")                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ...core.opdef import OpDef
from ..conv import ConvBiasForward
from ..conv import torch_kernels as _conv_kernels  # noqa: F401 - wrapped here
from ..elemwise import Elemwise, TypeCvt
from ..elemwise import torch_kernels as _elemwise_kernels  # noqa: F401
from ..nn import BatchedMatrixMul, MatrixMul
from ..nn import torch_kernels as _nn_kernels  # noqa: F401
from ..pooling import PoolingForward
from ..pooling import torch_kernels as _pooling_kernels  # noqa: F401
from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import to_numpy
from . import ElemwiseMultiType
from .numpy_kernels import (
    _any_quantized,
    _quantized_target,
    conv_bias,
    elemwise,
    matrix_mul,
    multi_type,
    pooling,
    type_cvt,
)

Applies = Callable[[OpDef, list], bool]


def _via_numpy(qkernel: Callable[..., np.ndarray], op: OpDef, dtypes: list,
               *xs: torch.Tensor) -> torch.Tensor:
    out = qkernel(op, dtypes, *[to_numpy(x) for x in xs])
    return torch.from_numpy(np.ascontiguousarray(out)).to(xs[0].device)


def _wrap(cls: type[OpDef], applies: Applies, qkernel: Callable[..., np.ndarray]) -> None:
    plain, prepare = cls.kernels.get("torch"), cls.preparers.get("torch")

    def kernel(op: OpDef, *xs: torch.Tensor) -> torch.Tensor:
        if applies(op, []):  # a quantized target; inputs' parameters are unknown here
            return _via_numpy(qkernel, op, [to_numpy(x).dtype for x in xs], *xs)
        if plain is None:
            raise NotImplementedError(f"backend 'torch' has no kernel for {op.type_name}")
        return plain(op, *xs)

    def preparer(op: OpDef, site: PrepareSite) -> Prepared | None:
        dtypes = [i.dtype for i in site.inputs]
        if applies(op, dtypes):
            return Prepared(lambda *xs: _via_numpy(qkernel, op, dtypes, *xs), site.all_args())
        return prepare(op, site) if prepare is not None else None

    TORCH.kernel(cls)(kernel)
    TORCH.preparer(cls)(preparer)


_wrap(TypeCvt, _quantized_target, type_cvt)
_wrap(ConvBiasForward, _quantized_target, conv_bias)
for _cls in (MatrixMul, BatchedMatrixMul):
    _wrap(_cls, _any_quantized, matrix_mul)
_wrap(Elemwise, _any_quantized, elemwise)
_wrap(PoolingForward, _any_quantized, pooling)
_wrap(ElemwiseMultiType, lambda op, dtypes: True, multi_type)
