"""Facts about MegBrain (MegEngine 1.13's graph builder) that shape what ``trace`` gives.

Example:
    >>> MAX_CONST_FOLDING_SIZE
    1024
"""

from __future__ import annotations

from ..ops.elemwise import Elemwise, PowC, TypeCvt
from ..ops.quantized import ElemwiseMultiType
from ..ops.reduce import Reduce
from ..ops.shape import (
    AxisAddRemove,
    Broadcast,
    Concat,
    Dimshuffle,
    GetVarShape,
    Reshape,
    Subtensor,
)

#: MegBrain's ``MAX_CONST_FOLDING_SIZE``: larger values are not folded
MAX_CONST_FOLDING_SIZE = 1024

#: MegBrain's ``DevValueCache::MAX_SIZE`` (``MAX_NDIM * 4``): equal constants of up to this
#: many elements are one ``ImmutableTensor`` there (one node id, one name)
MAX_SHARED_CONST_ELEMS = 7 * 4

#: operators for which MegBrain registers a static value inference (so folds them); they
#: are deterministic, so equal ones on the same inputs are one after its operator dedup
VALUE_INFERRED: tuple[type, ...] = (
    Elemwise, PowC, TypeCvt, Reduce, ElemwiseMultiType, Dimshuffle, AxisAddRemove, Concat,
    GetVarShape, Reshape, Broadcast, Subtensor)

__all__ = ["MAX_CONST_FOLDING_SIZE", "MAX_SHARED_CONST_ELEMS", "VALUE_INFERRED"]
