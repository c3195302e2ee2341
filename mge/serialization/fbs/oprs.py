"""Operator types MegEngine 1.13 can serialize: registered names, versions, params.

An operator in the file names its type three ways: the registered name (``type``),
the version of the registration (``opr_version``) and a type id hashed from the name
(:func:`.xxh64.opr_type_id`).  MegEngine's loader only looks at ``(type_id, version)``.

Registrations for version 1 are MegEngine's ``MGB_SEREG_OPR`` (the name often carries a
``V<n>`` suffix, e.g. ``PoolingV1``, which the id ignores); version 2 registrations
(``MGB_SEREG_OPR_V2``) take precedence when a model of version 2 is dumped.  Each entry
also lists the params its serializer writes, in order (``None``: not recorded here);
version 1 serializers write at most one param, some version 2 ones add an
``ExecutionPolicy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .params import PARAMS_BY_NAME
from .xxh64 import opr_type_id

#: newest serializer version MegEngine 1.13 knows (``CURRENT_VERSION``)
MAX_VERSION = 2

_CONV_EP = "Convolution,ExecutionPolicy"
_INDEX = "IndexDescMaskDump"

# "Name:Param,Param" ("Name:" = no params, bare "Name" = params not recorded)
_V2 = f"""
ImmutableTensor: Host2DeviceCopy:Host2DeviceCopy SharedDeviceTensorWithFormat:
MultipleDeviceTensorHolder: MultipleDeviceTensorWithFormatHolder: Softmax:Softmax
Convolution:{_CONV_EP} ConvolutionBackwardData:{_CONV_EP} ConvolutionBackwardFilter:{_CONV_EP}
ConvBiasForward:ConvBias,ExecutionPolicy BatchConvBiasForward:BatchConvBias,ExecutionPolicy
Convolution3D:Convolution3D,ExecutionPolicy Convolution3DBackwardData:Convolution3D,ExecutionPolicy
Convolution3DBackwardFilter:Convolution3D,ExecutionPolicy
LocalShareForward:LocalShare,ExecutionPolicy LocalShareBackwardData:LocalShare,ExecutionPolicy
LocalShareBackwardFilter:LocalShare,ExecutionPolicy DeformableConvForward:{_CONV_EP}
DeformableConvBackwardData:{_CONV_EP} DeformableConvBackwardFilter:{_CONV_EP}
GroupNorm:GroupNorm GroupNormBackward:GroupNorm InstanceNorm:GroupNorm
InstanceNormBackward:GroupNorm
"""
_V1 = f"""
Elemwise:Elemwise ElemwiseMultiType:ElemwiseMultiType PowC:PowC AddUpdate:MGBAddUpdate
ReduceV2:Reduce TypeCvtV2:FullDType Dot MatrixInverse SVD:SVD MatrixMulV2:MatrixMul
BatchedMatrixMulV2:MatrixMul CondExecPred:CondExecPred CondExecPredLogical:CondExecPredLogical
CondExecMark:CondExecMark CondExecMarkIfNeed:CondExecMark CondExecMerge:CondExecMerge
Images2Neibs:Images2Neibs Images2NeibsBackward:Images2Neibs
SlidingWindowTranspose:SlidingWindowTranspose
SlidingWindowTransposeBackward:SlidingWindowTranspose LocalV2 LocalBackwardDataV2
LocalBackwardFilterV2 GroupLocalV2 GroupLocalBackwardDataV2 GroupLocalBackwardFilterV2 LRN:LRN
LRNBackward:LRN AdaptivePoolingV1:AdaptivePooling AdaptivePoolingBackwardV1:AdaptivePooling
ROIPooling:ROIPooling ROIPoolingBackward:ROIPooling MaskConvolutionV2
MaskPropagate:MaskPropagate BatchNormV1:BN BatchNormBackwardV1:BN ROIAlignV1:ROIAlign
ROIAlignBackwardV1:ROIAlign CorrelationForward:Correlation CorrelationBackwardData1:Correlation
CorrelationBackwardData2:Correlation DeformablePSROIPoolingForward:DeformablePSROIPooling
DeformablePSROIPoolingBackward:DeformablePSROIPooling FakeQuant:FakeQuant
FakeQuantBackward:FakeQuant TQT:TQT TQTBackward:TQT LSQ:LSQ LSQBackward:LSQ LayerNorm:LayerNorm
LayerNormBackward:LayerNorm GeneralNorm:GeneralNorm GeneralNormBackward:GeneralNorm
GroupNorm:GroupNorm GroupNormBackward:GroupNorm InstanceNorm:GroupNorm
InstanceNormBackward:GroupNorm RNNCellForward:RNNCell LSTMCellForward RNNForward:RNN
RNNBackward:RNN LSTMForward:LSTM LSTMBackward:LSTM Softmax:Softmax SoftmaxBackward:Softmax
ConvolutionV2 ConvolutionBackwardDataV2 ConvolutionBackwardFilterV2 PoolingV1:Pooling
PoolingBackwardV1:Pooling Convolution3D Convolution3DBackwardData Convolution3DBackwardFilter
ConvBiasForwardV4 BatchConvBiasForwardV1 LocalShareForwardV1 LocalShareBackwardDataV1
LocalShareBackwardFilterV1 DeformableConvForwardV1 DeformableConvBackwardDataV1
DeformableConvBackwardFilterV1 RegionRestrictedConvolution
RegionRestrictedConvolutionBackwardData RegionRestrictedConvolutionBackwardFilter
WarpPerspectiveV2:WarpPerspective WarpPerspectiveBackwardDataV2:WarpPerspective
WarpPerspectiveBackwardMatV2:WarpPerspective Rotate:Rotate CvtColor:CvtColor
GaussianBlur:GaussianBlur ResizeV2:Resize ResizeBackward:Resize RemapV1:Remap
RemapBackwardDataV1:Remap RemapBackwardMatV1:Remap WarpAffineV2:WarpAffine
DctChannelSelectV1:DctChannelSelect Resize3D:Resize3D Diag:Diag DiagBackward:Diag
IndexingOneHot:Axis IndexingSetOneHot:Axis IndexingRemap:IndexingRemap
IndexingRemapBackward:IndexingRemap Host2DeviceCopy:Host2DeviceCopy SharedDeviceTensor:
SharedDeviceTensorWithFormat VolatileSharedDeviceTensor: ImmutableTensor: Copy
MultipleDeviceTensorHolder MultipleDeviceTensorWithFormatHolder Argmax:Axis Argmin:Axis
Argsort:Argsort ArgsortBackward:Argsort CondTake:CondTake TopK:TopK CumsumV1:Cumsum NvOf:NvOf
CheckNonFinite:CheckNonFinite AffineInt UniformRNGV1:UniformRNG GaussianRNGV1:GaussianRNG
GammaRNG:GammaRNG PoissonRNG:PoissonRNG PermutationRNG:PermutationRNG BetaRNG:BetaRNG
ShuffleRNG:ShuffleRNG ShuffleRNGBackward:ShuffleRNG Dropout:Dropout DropoutBackward:Dropout
MultiHeadAttn:MultiHeadAttn MultiHeadAttnBackward:MultiHeadAttn NMSKeepMGB:NMSKeep
Alloc:DType Linspace:Linspace Eye:Eye Broadcast:Empty Dimshuffle:Dimshuffle
AxisAddRemove:AxisAddRemove Concat:Axis GetVarShapeV1:OptionalAxisV1 ReshapeV1:OptionalAxisV1
Split:Axis RelayoutFormatV1:RelayoutFormat Padding:Padding PaddingBackward:Padding MaskedFill
MarkDynamicVar MarkNoBroadcastElemwise Identity AssertEqual:AssertEqual VirtualGrad
Sleep:MGBSleep VirtualDep: PersistentOutputStorage:PersistentOutputStorage Subtensor:{_INDEX}
SetSubtensor:{_INDEX} IncrSubtensor:{_INDEX} IndexingMultiAxisVec:{_INDEX}
IndexingSetMultiAxisVec:{_INDEX} IndexingIncrMultiAxisVec:{_INDEX} MeshIndexing:{_INDEX}
BatchedMeshIndexing:{_INDEX} IncrMeshIndexing:{_INDEX} BatchedIncrMeshIndexing:{_INDEX}
SetMeshIndexing:{_INDEX} BatchedSetMeshIndexing:{_INDEX} ExternCOprRunner TensorRTRuntimeOpr
AtlasRuntimeOpr CambriconRuntimeOpr MagicMindRuntimeOpr
"""


@dataclass(frozen=True)
class OprType:
    """A serializer registration: name, version, type id and the params it writes."""

    name: str
    version: int
    type_id: int
    params: tuple[str, ...] | None

    def check_params(self, types: list[str]) -> str | None:
        """Why param types ``types`` cannot be loaded by this serializer, or None."""
        if self.params is None:
            return None
        expected = self.params
        if types != list(expected[: len(types)]) or (expected and not types):
            return f"{self.name} takes params {list(expected)}, got {types}"
        return None


def _parse(text: str, version: int) -> list[OprType]:
    out = []
    for token in text.split():
        name, colon, plist = token.partition(":")
        params = tuple(p for p in plist.split(",") if p) if colon else None
        for p in params or ():
            assert p in PARAMS_BY_NAME, p
        out.append(OprType(name, version, opr_type_id(name, version), params))
    return out


_ALL = _parse(_V2, 2) + _parse(_V1, 1)
_BY_NAME: dict[tuple[str, int], OprType] = {(o.name, o.version): o for o in _ALL}
_BY_ID: dict[tuple[int, int], OprType] = {(o.type_id, o.version): o for o in _ALL}


def find(name: str, version: int) -> OprType | None:
    """The registration of ``name`` for ``version`` exactly, if known."""
    return _BY_NAME.get((name, version))


def find_by_id(type_id: int, version: int) -> OprType | None:
    """The registration whose id and version are these, if known."""
    return _BY_ID.get((type_id, version))


def for_writing(name: str, model_version: int) -> OprType | None:
    """The registration MegEngine uses to dump ``name`` into a model of ``model_version``.

    Like MegEngine's dumper this is the newest registration not newer than the model.
    """
    for version in range(model_version, 0, -1):
        found = _BY_NAME.get((name, version))
        if found is not None:
            return found
    return None


def all_types() -> list[OprType]:
    """Every registration (both versions)."""
    return list(_ALL)


def known_names() -> list[str]:
    """Every registered operator type name (sorted, without duplicates)."""
    return sorted({o.name for o in _ALL})
