"""Operator naming and output counts of MegEngine's FBS (v1) ``.mge`` format.

A v1 file names an operator only by a 64-bit type id: ``MGB_HASH_STR`` of the C++
class name the serializer was registered under (with its ``V<n>`` suffix and the
string's NUL, e.g. ``"PoolingV1\\0"``) in files with magic ``MGBC``; the older magic
``MGBS`` stores the "unversioned" id (name without suffix and NUL).  Only the
``MGB_SEREG_OPR`` registrations (version 1 in :mod:`.oprs`) exist in v1.

The codec presents v1 operators as the FBS_V2 reader would: a class that also has a
version 2 serializer (``ConvolutionV2`` -> ``Convolution``, ``ConvBiasForwardV4`` ->
``ConvBiasForward``, ``ImmutableTensor``...) is given its version 2 name; both write the
same params, except that the v1 ``MultipleDeviceTensorHolder`` also stores its tensor count
in a blob (:data:`COUNTED_HOLDERS`), which the codec checks and drops, and that the
``...WithFormat`` holders keep their v1 form.  :func:`v1_type_for` is the way back.

A v1 file also stores no output list: how many (non-volatile) variables an operator
adds is a property of the operator, given by :func:`output_count`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import oprs
from .model import Operator
from .oprs import OprType
from .xxh64 import opr_type_id, strip_version_suffix

_V1_TYPES = [o for o in oprs.all_types() if o.version == 1]
#: persistent id (``MGBC`` files) -> v1 registration
_BY_ID = {opr_type_id(o.name, 2): o for o in _V1_TYPES}
#: unversioned id (``MGBS`` files) -> v1 registration
_BY_UNVERSIONED_ID = {o.type_id: o for o in _V1_TYPES}


#: classes whose v1 serializer stores tensor formats in blobs (their v2 one in the tensors):
#: read and written under their v1 registration, blobs as they are
_KEPT_AS_V1 = frozenset({"SharedDeviceTensorWithFormat", "MultipleDeviceTensorWithFormatHolder"})
#: v1 serializers that write the number of their tensors as a uint32 blob (v2 ones do not)
COUNTED_HOLDERS = frozenset({"MultipleDeviceTensorHolder"})


def _v2_counterpart(v1: OprType) -> OprType | None:
    if v1.name in _KEPT_AS_V1:
        return None
    return oprs.find(strip_version_suffix(v1.name), 2)


_V2_TO_V1 = {v2.name: o for o in _V1_TYPES if (v2 := _v2_counterpart(o)) is not None}


def find_v1(type_id: int, unversioned: bool) -> OprType | None:
    """The v1 registration stored as ``type_id`` (``unversioned`` for ``MGBS`` files)."""
    return (_BY_UNVERSIONED_ID if unversioned else _BY_ID).get(type_id)


def as_read(v1: OprType) -> OprType:
    """The registration a v1 operator is presented as (its v2 counterpart if any)."""
    return _v2_counterpart(v1) or v1


def v1_type_for(name: str, version: int | None) -> OprType | None:
    """The v1 registration that writes operator ``name`` (as :func:`as_read` names it)."""
    if version == 2 or version is None:
        found = _V2_TO_V1.get(name)
        if found is not None:
            return found
        if version == 2:
            return None
    return oprs.find(name, 1)


def persistent_id(v1: OprType) -> int:
    """The type id an ``MGBC`` file stores for ``v1``."""
    return opr_type_id(v1.name, 2)


def _field(op: Operator, param: str, name: str) -> object:
    try:
        return op.param(param).get(name)
    except KeyError:
        return None


def _batch_norm(op: Operator) -> int:
    # outputs 0, 1 (running mean/var) are volatile in inference mode and in the
    # three-input form; the workspace always is
    inference = _field(op, "BN", "fwd_mode") == "INFERENCE" or len(op.inputs) == 3
    return 4 if inference else 6


def _norm_backward(op: Operator) -> int:
    # without weight (4 inputs) the weight and bias gradients are volatile
    return 3 if len(op.inputs) == 5 else 1


def _cond_exec_pred(op: Operator) -> int:
    # a mask per key (the last input is the predicate); PIECEWISE has one more interval,
    # CASE_FALLBACK a fallback branch
    keys = len(op.inputs) - 1
    return keys if _field(op, "CondExecPred", "mode") in (None, "CASE") else keys + 1


def _cond_exec_merge(op: Operator) -> int | None:
    count = _field(op, "CondExecMerge", "nr_output")
    return None if count is None else int(count)


#: operators adding other than one variable; others add exactly one. MegEngine 1.13
#: lists an operator's outputs without the ones flagged VOLATILE_CONTENT (workspaces,
#: unused gradients): the counts below are read from its operator constructors
_COUNTS: dict[str, Callable[[Operator], int | None]] = {
    "MultipleDeviceTensorHolder": lambda op: len(op.tensors),
    "MultipleDeviceTensorWithFormatHolder": lambda op: len(op.tensors),
    "Split": lambda op: len(op.inputs) - 1,
    "TopK": lambda op: 1 if _field(op, "TopK", "mode") == "KTH_ONLY" else 2,
    "Argsort": lambda op: 2,
    "CondTake": lambda op: 2,
    "BatchNormV1": _batch_norm,
    "SVD": lambda op: 3 if _field(op, "SVD", "compute_uv") else 1,  # u, vt volatile
    "MultiHeadAttn": lambda op: 4,
    "LayerNorm": lambda op: 3,
    "GroupNorm": lambda op: 3,
    "InstanceNorm": lambda op: 3,
    "GeneralNorm": lambda op: 3,
    "Dropout": lambda op: 2,
    "ROIAlignV1": lambda op: 2,
    "NMSKeepMGB": lambda op: 2,
    "CheckNonFinite": lambda op: len(op.inputs) + 1,
    "BatchNormBackwardV1": lambda op: 3,
    "DeformableConvBackwardData": lambda op: 3,
    "ROIPooling": lambda op: 2,
    "DeformablePSROIPoolingForward": lambda op: 2,
    "ShuffleRNG": lambda op: 2,
    # output, hy (, cy), reserve space: dnn/include/megdnn/oprs/nn.h, oracle dumps
    "RNNForward": lambda op: 3,
    "LSTMForward": lambda op: 4,
    "LSTMCellForward": lambda op: 3,  # h, c, gates
    "RNNBackward": lambda op: 3,  # dx, dhx, dw (src/opr/impl/dnn/rnn.cpp)
    "LSTMBackward": lambda op: 4,  # dx, dhx, dcx, dw
    "LayerNormBackward": _norm_backward,  # ddata, dweight, dbias
    "GroupNormBackward": _norm_backward,
    "InstanceNormBackward": _norm_backward,
    "GeneralNormBackward": _norm_backward,
    "MultiHeadAttnBackward": lambda op: 6,  # dq, dk, dv, dqkvo weight, bias k, bias v
    "ROIPoolingBackward": lambda op: 1,
    "DeformablePSROIPoolingBackward": lambda op: 2,  # d data, d trans
    # src/opr/impl/cond.cpp and cond.sereg.h: the last input of Pred and Mark is the
    # predicate / ppv; MarkIfNeed loads as one var
    "CondExecPred": _cond_exec_pred,
    "CondExecMark": lambda op: len(op.inputs) - 1,
    "CondExecMarkIfNeed": lambda op: 1,
    "CondExecMerge": _cond_exec_merge,
}
#: operators whose number of outputs is defined by code or files outside the graph
_UNKNOWN = frozenset({
    "ExternCOprRunner", "TensorRTRuntimeOpr", "AtlasRuntimeOpr", "CambriconRuntimeOpr",
    "MagicMindRuntimeOpr", "VirtualGrad",
})  # fmt: skip


def output_count(op: Operator) -> int | None:
    """How many variables ``op`` (named as :func:`as_read` names it) adds; None if unknown."""
    if op.type in _UNKNOWN:
        return None
    rule = _COUNTS.get(op.type)
    return 1 if rule is None else rule(op)
