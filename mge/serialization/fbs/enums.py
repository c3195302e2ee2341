"""Enumerations used by operator params, as MegEngine 1.13 numbers them.

Each entry maps our enum name to its member names; a member's value in the file is its
index.  Names are MegEngine's Python-side names (``MAX``/``MIN``, not the ``MAX_``
spelling of the generated schema).  :data:`FLAG_ENUMS` are bit sets: member ``i`` is
bit ``1 << i`` and a value is written as ``"A|B"``.
"""

from __future__ import annotations

from ...ops.vision.color import MODES as CVT_COLOR_MODES  # the op's enum, in file order

_BORDER = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT", "TRANSPARENT", "ISOLATED")
_CONV_FORMAT_HEAD = ("NCHW", "NHWC", "NHWCD4", "NCHW4", "NCHW8", "NCHW32", "NCHW88", "NCHW44",
                     "NCHW44_DOT")  # fmt: skip
_ELEMWISE = (
    "RELU", "ABS", "ACOS", "ASIN", "CEIL", "COS", "EXP", "EXPM1", "FLOOR", "LOG", "LOG1P",
    "NEGATE", "SIGMOID", "SIN", "TANH", "ABS_GRAD", "ADD", "FLOOR_DIV", "MAX", "MIN", "MOD",
    "MUL", "POW", "SIGMOID_GRAD", "SUB", "SWITCH_GT0", "TANH_GRAD", "TRUE_DIV", "LOG_SUM_EXP",
    "LT", "LEQ", "EQ", "SHL", "SHR", "COND_LEQ_MOV", "FUSE_MUL_ADD3", "FUSE_MUL_ADD4",
    "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_TANH", "FAST_TANH", "FAST_TANH_GRAD",
    "ROUND", "RMULH", "ATAN2", "ERF", "ERFINV", "ERFC", "ERFCINV", "H_SWISH", "H_SWISH_GRAD",
    "FUSE_ADD_H_SWISH", "NOT", "AND", "OR", "XOR", "SILU", "SILU_GRAD", "GELU", "GELU_GRAD",
    "COND_LT_MOV", "NEQ", "ISNAN", "ISINF", "SINH", "COSH", "ASINH", "ACOSH", "ATANH", "TAN",
    "ASINH_GRAD", "ACOSH_GRAD", "ATANH_GRAD", "PRELU", "CLIP", "PRELU_GRAD", "SOFTPLUS",
    "SOFTPLUS_GRAD", "RELU6", "RELU6_GRAD", "HSIGMOID", "HSIGMOID_GRAD", "LOGSIGMOID", "SQRT",
    "SQUARE", "SIGN",
)  # fmt: skip
_ELEMWISE_MULTI_TYPE = (
    "FUSE_MUL_ADD3_INT16x32x32x32", "FUSE_MUL_ADD3_IXxF32xF32xI8", "ROUND_SHR_SATURATE_IXxI8xI8",
    "FUSE_ADD_RMULH_ROUND_SHR_SATURATE_INT16x16x16x8",
    "FUSE_ADD_RMULH_ROUND_SHR_SATURATE_INT32x32x32x8", "ROUND_SHR_SATURATE_IXxI8xI16", "QADD",
    "QFUSE_ADD_RELU", "QMUL", "QMIN", "QMAX", "QSUB", "QTRUE_DIV", "QFUSE_ADD_SIGMOID",
    "QFUSE_ADD_TANH", "QRELU", "QABS", "QSIGMOID", "QEXP", "QTANH", "QFUSE_MUL_ADD3",
    "QFAST_TANH", "QNEGATE", "QACOS", "QASIN", "QCEIL", "QCOS", "QEXPM1", "QFLOOR", "QLOG",
    "QLOG1P", "QSIN", "QROUND", "QERF", "QERFINV", "QERFC", "QERFCINV", "QABS_GRAD",
    "QFLOOR_DIV", "QMOD", "QSIGMOID_GRAD", "QSWITCH_GT0", "QTANH_GRAD", "QLT", "QLEQ", "QEQ",
    "QPOW", "QLOG_SUM_EXP", "QFAST_TANH_GRAD", "QATAN2", "QCOND_LEQ_MOV", "QH_SWISH",
    "QFUSE_ADD_H_SWISH", "QH_SWISH_GRAD", "FUSE_MUL_ADD3_INT16xF32xF32xF32", "MUL_INT16xF32xF32",
    "FUSE_MUL_ADD3_UINT8xF32xF32xF32", "QCOND_LT_MOV", "EQ", "NEQ", "LT", "LEQ", "ISNAN", "ISINF",
)  # fmt: skip
_RELAYOUT = (
    "NHWC_NHWCD4", "NHWCD4_NHWC", "NHWC_NHWCD4I", "NCHW_NHWCD4", "NCHW_NHWCD4I", "NHWCD4I_NCHW",
    "NHWCD4_NCHW", "INTER_WEIGHT_DENSE", "INTER_WEIGHT_DENSEI", "INTER_WEIGHT_GROUP",
    "INTER_WEIGHT_GROUPI", "INTER_WEIGHT_CHAN", "INTER_WEIGHT_CHANI", "INTER_WEIGHT_DENSEI_DOT",
    "INTER_WEIGHT_GROUPI_DOT", "NCHW4_CHWN4", "CHWN4_NCHW4", "NCHW_NCHW88_CONV_DENSE_WEIGHT",
    "NCHW_NCHW88_CONV_CHAN_WEIGHT", "NCHW_NCHW88_CONV_GROUP_WEIGHT", "NCHW_NCHW88",
    "NCHW88_NCHW", "NCHW_NCHW4_IC_SMALL", "NCHW_NCHW4_IC_SMALL_CONV_DENSE_WEIGHT",
    "NCHW_NCHW4", "NCHW4_NCHW", "NCHW_NCHW4_WEIGHT", "NCHW_NCHW64", "NCHW64_NCHW", "NCHW_NHWC",
    "NHWC_NCHW", "NHWCD4I_NHWC",
)  # fmt: skip

ENUMS: dict[str, tuple[str, ...]] = {
    "ConvMode": ("CROSS_CORRELATION", "CONVOLUTION"),
    "ConvSparse": ("DENSE", "GROUP"),
    "ConvFormat": _CONV_FORMAT_HEAD + (
        "NCHW4_NCHW32", "NCHW32_NCHW4", "NCHW4_NCHW", "NHWC_NCHW", "NHWC_NCHW4_IC_SMALL",
        "NCHW_NCHW4_IC_SMALL", "CHWN4", "NCHW64", "NCHW4_NHWC"),
    "ConvFormatV0": _CONV_FORMAT_HEAD + (
        "NCHW_WINOGRAD", "NCHW88_WINOGRAD", "NCHW44_WINOGRAD", "NCHW4_NCHW32", "NCHW32_NCHW4",
        "NCHW4_NCHW", "NHWC_NCHW", "NHWC_NCHW4_IC_SMALL", "NCHW_NCHW4_IC_SMALL", "CHWN4",
        "NCHW4_NHWC"),
    "ComputeMode": ("DEFAULT", "FLOAT32"),
    "ConvBiasNonline": ("IDENTITY", "RELU", "SIGMOID", "H_SWISH"),
    "Conv3DBiasNonline": ("IDENTITY", "RELU", "SIGMOID"),
    "Conv3DDataType": ("FLOAT", "FLOAT_IO16xC32"),
    "Conv3DFormat": ("NCDHW", "NDHWC"),
    "ConvPoolingMethod": ("WITH_TEXTURE_OBJ", "WITH_SHARED_MEM"),
    "ConvPoolingPoolMode": ("AVERAGE", "MAX"),
    "ConvPoolingNonline": ("IDENTITY", "RELU", "SIGMOID"),
    "PoolingMode": ("MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING"),
    "InterpMode": ("NEAREST", "LINEAR", "AREA", "CUBIC", "LANCZOS4"),
    "BorderMode": _BORDER,
    "SepBorderMode": tuple("BORDER_" + b for b in _BORDER),
    "Elemwise": _ELEMWISE,
    "ElemwiseMultiType": _ELEMWISE_MULTI_TYPE,
    "MatrixMulFormat": ("DEFAULT", "MK4", "MK8", "MK4_DOT", "N32K4_DOT"),
    "ReduceMode": ("SUM", "SUM_SQR", "PRODUCT", "MIN", "MAX", "MEAN"),
    "ReduceDataType": ("DEFAULT", "FLOAT_IO16xC32", "FLOAT_O32xC32", "FLOAT_O16xC32",
                       "QUINT_I8xO32", "QINT_I8xO32"),
    "ArgsortOrder": ("ASCENDING", "DESCENDING"),
    "TopKMode": ("KTH_ONLY", "VALUE_IDX_NOSORT", "VALUE_IDX_SORTED"),
    "CondTakeMode": ("EQ", "NEQ", "LT", "LEQ", "GT", "GEQ"),
    "BNParamDim": ("DIM_11HW", "DIM_1CHW", "DIM_1C11", "DIM_111C"),
    "BNFwdMode": ("TRAINING", "INFERENCE"),
    "ROIPoolingMode": ("MAX", "AVERAGE"),
    "ROIAlignMode": ("MAX", "AVERAGE"),
    "SpatialTfGridGeneratorMode": ("AFFINE",),
    "SpatialTfSamplerMode": ("BILINEAR",),
    "CvtColorMode": CVT_COLOR_MODES,
    "RelayoutMode": _RELAYOUT,
    "DctFastImpl": ("NONE", "FIX_32_MASK"),
    "PaddingMode": ("REPLICATE", "REFLECT", "CONSTANT"),
    "RNNCellNonline": ("IDENTITY", "RELU", "TANH"),
    "AttnMaskType": ("NO_MASK", "DEFAULT_MASK", "CUDNN_STYLE_MASK", "USER_DEFINED_MASK"),
    "TensorCombinationType": ("NONE", "ONLY_MASK", "ONLY_BIASKV", "ALL"),
    "CollectiveCommMode": ("REDUCE_SUM", "BROADCAST", "ALL_GATHER", "REDUCE_SCATTER_SUM",
                           "ALL_REDUCE_SUM", "ALL_REDUCE_MAX", "ALL_REDUCE_MIN",
                           "ALL_REDUCE_PROD", "GATHER", "SCATTER", "ALL_TO_ALL"),
    "CondExecPredMode": ("CASE", "CASE_FALLBACK", "PIECEWISE"),
    "CondExecPredLogicalMode": ("OR", "AND", "XOR", "NOR", "NAND", "XNOR"),
    "CondExecMarkGradMode": ("SUM", "SUM_COND_OUT"),
    "CondExecMarkStaticInfer": ("SHAPE_VALUE", "SHAPE_ONLY", "NONE"),
    "CondExecMergeMode": ("EXACT_ONE", "EXACT_ONE_SAME_SHAPE", "SUM", "SUM_COND_OUT"),
    "ExecutionStrategy": ("HEURISTIC", "PROFILE", "REPRODUCIBLE", "OPTIMIZED"),
    "AxisDescMethod": ("ADD_1", "REMOVE"),
}  # fmt: skip

#: enums whose values are bit sets of their members
FLAG_ENUMS: frozenset[str] = frozenset({"ExecutionStrategy"})


def flags_to_str(enum: str, value: int) -> str | None:
    """``"A|B"`` for a bit set, "" for 0; None if ``value`` has bits outside the enum."""
    members = ENUMS[enum]
    if value >> len(members):
        return None
    return "|".join(m for i, m in enumerate(members) if value >> i & 1)


def str_to_flags(enum: str, text: str) -> int:
    """Inverse of :func:`flags_to_str`; raises ValueError for unknown member names."""
    members = ENUMS[enum]
    value = 0
    for part in filter(None, (p.strip() for p in text.split("|"))):
        if part not in members:
            raise ValueError(f"{part!r} is not a member of {enum} {members}")
        value |= 1 << members.index(part)
    return value
