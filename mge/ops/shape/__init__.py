"""The shape family: shape and data-movement ops (:mod:`.shape`), creation ops
(:mod:`.creation`) and indexing ops (:mod:`.indexing`), with their numpy and torch kernels
(``numpy_kernels``, ``torch_kernels``) and ONNX export rules (``onnx_export``).

Example:
    >>> Reshape(shape=(2, -1)).infer([TensorInfo((2, 3, 4), np.dtype("float32"))])[0].shape
    (2, 12)
"""

from .condtake import CondTake
from .creation import (
    CREATED_AS_VALUE,
    Alloc,
    CreationOp,
    Eye,
    Fill,
    Linspace,
)
from .indexing import (
    AxisSel,
    IndexingIncrMultiAxisVec,
    IndexingMultiAxisVec,
    IndexingOp,
    IndexingSetMultiAxisVec,
    SetIndexingOp,
    SetSubtensor,
    Subtensor,
    broadcast_index_shapes,
)
from .shape import (
    INT32,
    INVALID_AXIS,
    MAX_NDIM,
    PADDING_MODES,
    AxisAddRemove,
    Broadcast,
    Concat,
    Diag,
    Dimshuffle,
    GetVarShape,
    Padding,
    Reshape,
    StaticParamsOp,
    broadcast_to_shape,
    check_shape_param,
    follow_batch,
    freeze,
    numel,
    resolved,
    scalar_made_1d,
    shape_from_source,
)

__all__ = [
    "CondTake",
    "AxisAddRemove",
    "AxisSel",
    "Broadcast",
    "CREATED_AS_VALUE",
    "Concat",
    "CreationOp",
    "Diag",
    "Dimshuffle",
    "Eye",
    "Alloc",
    "Fill",
    "GetVarShape",
    "INT32",
    "INVALID_AXIS",
    "IndexingIncrMultiAxisVec",
    "IndexingMultiAxisVec",
    "IndexingOp",
    "IndexingSetMultiAxisVec",
    "Linspace",
    "MAX_NDIM",
    "PADDING_MODES",
    "Padding",
    "Reshape",
    "SetIndexingOp",
    "SetSubtensor",
    "StaticParamsOp",
    "Subtensor",
    "broadcast_index_shapes",
    "broadcast_to_shape",
    "check_shape_param",
    "follow_batch",
    "freeze",
    "numel",
    "resolved",
    "scalar_made_1d",
    "shape_from_source",
]


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
