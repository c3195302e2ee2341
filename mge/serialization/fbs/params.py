"""Declarative specs of every operator param table an FBS_V2 file can hold.

An operator's param is a FlatBuffers table selected by the ``OperatorParam`` union; the
union index is stored next to it.  Each table is declared below in one line::

    (union index, param name, "field:type=default field:type=default ...")

Fields are listed in schema order: field ``i`` lives in vtable slot ``i``.  Types are
``u32 u64 i32 f32 f64 bool`` (scalars), ``dtype`` (a ``DTypeEnum`` byte, given by name),
an enum name from :mod:`.enums` (uint32; flag enums take ``"A|B"`` strings),
``i32[]`` (vector of int32), ``<Struct>[]`` (vector of structs) or ``<Struct>`` (a struct
stored inline).  Omitted defaults are zero.  Adding a param is one line here.
"""

from __future__ import annotations

import copy
import functools
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from .enums import ENUMS, FLAG_ENUMS, str_to_flags

#: scalar field kinds and their little-endian struct codes
SCALARS: dict[str, str] = {
    "u8": "B", "i8": "b", "bool": "?", "u32": "I", "i32": "i", "u64": "Q", "f32": "f",
    "f64": "d", "dtype": "b",
}  # fmt: skip


@dataclass(frozen=True)
class StructSpec:
    """A FlatBuffers struct: fixed layout ``fmt`` covering ``fields``, ``align`` bytes."""

    name: str
    fmt: struct.Struct
    align: int
    fields: tuple[tuple[str, str], ...]  # (field name, scalar kind / enum name / "bytes4")


STRUCTS: dict[str, StructSpec] = {
    s.name: s
    for s in (
        StructSpec("AxisDesc", struct.Struct("<b3xi"), 4,
                   (("method", "AxisDescMethod"), ("axis", "i32"))),
        StructSpec("IndexDescMaskItem", struct.Struct("<b4B"), 1,
                   (("axis", "i8"), ("begin", "bool"), ("end", "bool"), ("step", "bool"),
                    ("idx", "bool"))),
        StructSpec("DTypeScalar", struct.Struct("<b4s"), 1,
                   (("dtype", "dtype"), ("storage", "bytes4"))),
    )
}  # fmt: skip

# fmt: off
_CONV2D = ("pad_h:u32 pad_w:u32 stride_h:u32=1 stride_w:u32=1 dilate_h:u32=1 dilate_w:u32=1")
_PAD_DIMS = " ".join(f"{s}_offset_dim{i}:u32" for s in ("front", "back") for i in range(7))
_SPECS: tuple[tuple[int, str, str], ...] = (
    (1, "Empty", ""),
    (2, "Axis", "axis:i32"),
    (3, "Convolution", f"mode:ConvMode {_CONV2D} sparse:ConvSparse format:ConvFormat "
                       "compute_mode:ComputeMode"),
    (4, "MaskPropagate", "pad_h:u32 pad_w:u32 stride_h:u32=1 stride_w:u32=1 kernel_h:u32=1 "
                         "kernel_w:u32=1 dilate_h:u32=1 dilate_w:u32=1"),
    (5, "ConvPooling", "method:ConvPoolingMethod convMode:ConvMode poolMode:ConvPoolingPoolMode "
                       "nonlineMode:ConvPoolingNonline pool_shape_h:u32=1 pool_shape_w:u32=1 "
                       "pool_stride_h:u32=1 pool_stride_w:u32=1 pool_pad_h:u32 pool_pad_w:u32 "
                       "conv_stride_h:u32=1 conv_stride_w:u32=1 conv_pad_h:u32 conv_pad_w:u32"),
    (6, "ConvBias", "nonlineMode:ConvBiasNonline mode:ConvMode sparse:ConvSparse "
                    f"format:ConvFormat {_CONV2D} compute_mode:ComputeMode"),
    (7, "SeparableConv", "mode:ConvMode borderMode:SepBorderMode is_symm_kernel:bool=true "
                         "pad_h:u32 pad_w:u32 stride_h:u32=1 stride_w:u32=1 ksize_h:u32=3 "
                         "ksize_w:u32=3 anchor_h:u32=1 anchor_w:u32=1"),
    (8, "Images2Neibs", f"{_CONV2D} window_h:u32=3 window_w:u32=3"),
    (9, "Pooling", "mode:PoolingMode pad_h:u32 pad_w:u32 stride_h:u32=2 stride_w:u32=2 "
                   "window_h:u32=2 window_w:u32=2 format:ConvFormat"),
    (10, "LRN", "n:u32=5 k:f32=2 alpha:f32=1e-4 beta:f32=0.75"),
    (11, "BN", "param_dim:BNParamDim fwd_mode:BNFwdMode epsilon:f64=1e-4 avg_factor:f64=1 "
               "scale:f32=1 bias:f32"),
    (12, "ROIPooling", "mode:ROIPoolingMode scale:f32=1"),
    (13, "WarpPerspective", "imode:InterpMode=LINEAR bmode:BorderMode format:ConvFormat "
                            "border_val:f32"),
    (14, "SpatialTfGridGenerator", "mode:SpatialTfGridGeneratorMode"),
    (15, "SpatialTfSampler", "mode:SpatialTfSamplerMode"),
    (16, "MGBAddUpdate", "alpha:DTypeScalar beta:DTypeScalar bias:DTypeScalar"),
    (17, "Elemwise", "mode:Elemwise"),
    (18, "ElemwiseMultiType", "mode:ElemwiseMultiType"),
    (19, "PowC", "exp:f32"),
    (20, "MatrixMul", "transposeA:bool transposeB:bool compute_mode:ComputeMode "
                      "format:MatrixMulFormat"),
    (21, "DeprecatedParam", ""),
    (22, "SVD", "full_matrices:bool compute_uv:bool=true"),
    (23, "Reduce", "mode:ReduceMode axis:i32=2147483647 data_type:ReduceDataType"),
    (24, "Cumsum", "axis:i32=2147483647 exclusive:bool=true reverse:bool"),
    (25, "CondTake", "mode:CondTakeMode val:f32 eps:f32=1e-6"),
    (26, "Argsort", "order:ArgsortOrder"),
    (27, "IndexingRemap", "is_non_overlapping:bool"),
    (28, "MGBSleep", "device:bool=true host:bool seconds:f64"),
    (29, "Linspace", "endpoint:bool=true"),
    (30, "LinspaceFull", "start:f64 stop:f64=1 endpoint:bool=true"),
    (31, "Eye", "k:i32 dtype:dtype=Float32"),
    (32, "UniformRNG", "seed:u64 dtype:dtype=Float32"),
    (33, "GaussianRNG", "seed:u64 mean:f32 std:f32=1 dtype:dtype=Float32"),
    (34, "Flip", "vertical:bool horizontal:bool"),
    (35, "Rotate", "clockwise:bool=true"),
    (36, "ROICopy", "row_from:u32 row_to:u32 col_from:u32 col_to:u32"),
    (37, "CvtColor", "mode:CvtColorMode"),
    (38, "WarpAffine", "imode:InterpMode=LINEAR border_mode:BorderMode border_val:f32 "
                       "format:ConvFormat=NHWC"),
    (39, "GaussianBlur", "border_mode:BorderMode kernel_height:u32 kernel_width:u32 "
                         "sigma_x:f32 sigma_y:f32"),
    (40, "Resize", "imode:InterpMode=LINEAR format:ConvFormat=NHWC"),
    (41, "Convolution3D", "mode:ConvMode pad_d:u32 pad_h:u32 pad_w:u32 stride_d:u32=1 "
                          "stride_h:u32=1 stride_w:u32=1 dilate_d:u32=1 dilate_h:u32=1 "
                          "dilate_w:u32=1 sparse:ConvSparse data_type:Conv3DDataType "
                          "format:Conv3DFormat"),
    (42, "Conv3DBias", "nonlineMode:Conv3DBiasNonline mode:ConvMode pad_d:u32 pad_h:u32 "
                       "pad_w:u32 stride_d:u32=1 stride_h:u32=1 stride_w:u32"),
    (43, "SeparableConv3D", "mode:ConvMode borderMode:SepBorderMode is_symm_kernel:bool=true "
                            "pad_d:u32 pad_h:u32 pad_w:u32 stride_d:u32 stride_h:u32=1 "
                            "stride_w:u32=1 ksize_d:u32 ksize_h:u32=3 ksize_w:u32=3 "
                            "anchor_d:u32 anchor_h:u32=1 anchor_w:u32=1"),
    (44, "TopK", "mode:TopKMode"),
    (45, "RelayoutFormat", "mode:RelayoutMode oc:u32 group:u32=1"),
    (46, "SeparableFilter", "format:ConvFormat borderMode:BorderMode is_symm_kernel:bool=true "
                            "ksize_h:u32=3 ksize_w:u32=3 anchor_h:u32=1 anchor_w:u32=1"),
    (47, "LocalShare", f"mode:ConvMode {_CONV2D} spatial_groups_h:u32=1 spatial_groups_w:u32=1 "
                       "sparse:ConvSparse format:ConvFormat computeMode:ComputeMode"),
    (48, "ROIAlign", "mode:ROIAlignMode format:ConvFormat spatial_scale:f32=1 offset:f32 "
                     "pooled_height:u32=1 pooled_width:u32=1 sample_height:u32=2 "
                     "sample_width:u32=2"),
    (49, "DeformablePSROIPooling", "no_trans:bool=true spatial_scale:f32=1 trans_std:f32=1 "
                                   "pooled_h:u32=1 pooled_w:u32=1 part_size:u32=1 "
                                   "sample_per_part:u32=1"),
    (50, "BatchConvBias", f"nonlineMode:ConvBiasNonline mode:ConvMode {_CONV2D} "
                          "sparse:ConvSparse format:ConvFormat compute_mode:ComputeMode"),
    (51, "DType", "dtype:dtype=Byte"),
    (52, "PersistentOutputStorage", "share_key:i32=-1"),
    (53, "OptionalAxis", "axis:i32=-1"),
    (54, "OptionalAxisV1", "axis:i32=7"),
    (55, "ExecutionPolicy", "strategy:ExecutionStrategy=HEURISTIC "
                            "workspace_limit:u64=18446744073709551615"),
    (56, "AssertEqual", "maxerr:f32=1e-4 verbose:bool"),
    (57, "Reserved0", ""),
    (58, "CollectiveComm", "mode:CollectiveCommMode"),
    (59, "CondExecPred", "mode:CondExecPredMode eps:f32=1e-4"),
    (60, "CondExecPredLogical", "mode:CondExecPredLogicalMode"),
    (61, "CondExecMark", "grad_mode:CondExecMarkGradMode static_infer:CondExecMarkStaticInfer"),
    (62, "CondExecMerge", "nr_output:u32=1 mode:CondExecMergeMode"),
    (63, "Host2DeviceCopy", "enable_value_infer:bool=true dump_default_value:bool "
                            "allow_cpu_mem_fwd:bool=true"),
    (64, "Dimshuffle", "pattern:i32[] ndim:u32"),
    (65, "AxisAddRemove", "desc:AxisDesc[]"),
    (66, "IndexDescMaskDump", "items:IndexDescMaskItem[]"),
    (67, "FullDType", ""),  # the whole table is a DType (dtype + quantization), see below
    (68, "Remap", "imode:InterpMode=LINEAR border_type:BorderMode format:ConvFormat=NHWC "
                  "scalar:f32"),
    (69, "NMSKeep", "iou_thresh:f32 max_output:u32"),
    (70, "AdaptivePooling", "mode:PoolingMode format:ConvFormat"),
    (71, "NvOf", "precision:u32=1"),
    (72, "DctChannelSelect", "format:ConvFormat fastImpl:DctFastImpl dct_block_size:i32=8"),
    (73, "FakeQuant", "qmin:i32=-2147483648 qmax:i32=2147483647"),
    (74, "TQT", "qmin:i32=-2147483648 qmax:i32=2147483647"),
    (75, "Correlation", "format:ConvFormatV0 kernel_size:u32=1 max_displacement:u32=1 "
                        "stride1:u32=1 stride2:u32=1 pad_size:u32 is_multiply:bool=true"),
    (76, "LSQ", "qmin:i32=-2147483648 qmax:i32=2147483647"),
    (77, "GammaRNG", "seed:u64"),
    (78, "PoissonRNG", "seed:u64"),
    (79, "PermutationRNG", "seed:u64 dtype:dtype=Int32"),
    (80, "BetaRNG", "seed:u64"),
    (81, "SlidingWindowTranspose", f"out_h:u32 out_w:u32 {_CONV2D} window_h:u32=3 "
                                   "window_w:u32=3"),
    (82, "Padding", f"{_PAD_DIMS} padding_val:f32 padding_mode:PaddingMode=CONSTANT"),
    (83, "ShuffleRNG", "seed:u64"),
    (84, "CheckNonFinite", "scale:f32=1"),
    (85, "LayerNorm", "affine:bool=true eps:f32=1e-5 normalized_dim:u64=1 "
                      "normalized_size:u64=1"),
    (86, "Dropout", "drop_prob:f32 seed:u64"),
    (87, "RNNCell", "nonlineMode:RNNCellNonline"),
    (88, "RNN", "num_layers:u32=1 bidirectional:bool bias:bool=true hidden_size:u32=128 "
                "dropout:f32 nonlineMode:RNNCellNonline fwd_mode:BNFwdMode"),
    (89, "LSTM", "num_layers:u32=1 bidirectional:bool bias:bool=true hidden_size:u32=128 "
                 "proj_size:u32 dropout:f32 fwd_mode:BNFwdMode"),
    (90, "Softmax", "axis:i32=-1"),
    (91, "Diag", "k:i32"),
    (92, "GroupNorm", "affine:bool=true eps:f32=1e-5 group:u32=1 format:ConvFormat"),
    (93, "Fill", "value:f32"),
    (94, "GeneralNorm", "affine:bool=true eps:f32=1e-5 axis_start:u64 axis_end:u64"),
    (95, "MultiHeadAttn", "num_heads:u32=1 embeding_size:u32 k_size:u32 v_size:u32 "
                          "qproj_size:u32 kproj_size:u32 vproj_size:u32 oproj_size:u32 "
                          "qbias:bool kbias:bool vbias:bool obias:bool sm_scaler:f32=1 "
                          "input_order:u32 attn_mask_type:AttnMaskType "
                          "tensor_combination_type:TensorCombinationType add_zero_attn:bool "
                          "need_weights:bool reslink:bool training:bool=true seed:u64 "
                          "attn_prob:f32 out_prob:f32"),
    (96, "Resize3D", "imode:InterpMode=LINEAR format:Conv3DFormat=NDHWC align_corners:bool"),
    (97, "Cross", "axisa:i32=-1 axisb:i32=-1 axisc:i32=-1"),  # added after 1.13.0
)
# fmt: on

#: name of the param whose table is a full ``DType`` (used by ``TypeCvt``)
FULL_DTYPE = "FullDType"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a param table; ``kind`` is a scalar kind, enum, ``i32[]`` or struct."""

    name: str
    kind: str
    default: Any

    # cached: every field of every op a model file holds asks them as it is decoded
    @functools.cached_property
    def is_enum(self) -> bool:
        return self.kind in ENUMS

    @functools.cached_property
    def is_vector(self) -> bool:
        """A vector field (``i32[]``, or of structs)."""
        return self.kind.endswith("[]")

    @functools.cached_property
    def struct(self) -> StructSpec | None:
        return STRUCTS.get(self.kind.removesuffix("[]"))


@dataclass(frozen=True)
class ParamSpec:
    """A param table: its ``OperatorParam`` union index, name and fields (slot order)."""

    union_id: int
    name: str
    fields: tuple[FieldSpec, ...]


def _f32(x: float) -> float:
    return float(np.float32(x))


def _parse_default(kind: str, text: str | None) -> Any:
    if kind.endswith("[]"):
        return []
    if kind in STRUCTS:
        return None
    if kind in ENUMS:
        if kind in FLAG_ENUMS:
            str_to_flags(kind, text or "")  # validates the names
            return text or ""
        members = ENUMS[kind]
        if text is not None and text not in members:
            raise ValueError(f"default {text!r} is not a member of {kind}")
        return text or members[0]
    if kind == "dtype":
        return text or "Float32"
    if kind == "bool":
        return text == "true"
    if kind in ("f32", "f64"):
        value = float(text or 0)
        return _f32(value) if kind == "f32" else value
    if kind in SCALARS:
        return int(text or 0)
    raise ValueError(f"unknown field type {kind!r}")


def _parse(union_id: int, name: str, text: str) -> ParamSpec:
    fields = []
    for item in text.split():
        fname, _, rest = item.partition(":")
        kind, _, default = rest.partition("=")
        fields.append(FieldSpec(fname, kind, _parse_default(kind, default or None)))
    return ParamSpec(union_id, name, tuple(fields))


#: param specs by union index and by name
PARAMS_BY_ID: dict[int, ParamSpec] = {i: _parse(i, n, t) for i, n, t in _SPECS}
PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in PARAMS_BY_ID.values()}


def default_fields(name: str) -> dict[str, Any]:
    """All fields of param ``name`` with their default values."""
    if name == FULL_DTYPE:
        raise ValueError(f"{FULL_DTYPE} has no defaults; it holds one DType")
    return {f.name: copy.copy(f.default) for f in PARAMS_BY_NAME[name].fields}
