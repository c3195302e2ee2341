"""Quantized graphs as ONNX models on integer kernels (QLinearConv, MatMulInteger, QDQ).

A quantized var becomes an ONNX tensor of its integer codes (``int8``, ``uint8``,
``int32``; ``QuantizedS8`` activations as uint8 ``q + 128``, see :data:`SHIFT`); its scale
and zero point become constants beside the ops that need them:

* ``TypeCvt`` to / from quantized dtypes: ``QuantizeLinear`` / ``DequantizeLinear`` (ONNX
  rounds ties to even where MegEngine rounds them away from zero: results may differ by
  one step on exact ties); between two: MegEngine's rounding (:mod:`.int8_round`);
* quantized ``ConvBiasForward``: ``QLinearConv`` (int32 bias at ``scale_src *
  scale_filter``; onnxruntime requantizes with its own float factor and rounds ties to
  even: within one step of MegEngine), ``RELU`` as an integer ``Clip`` at the zero point;
  a conv read only by a scale-changing ``QRELU`` outputs relu'd uint8 codes at zero
  point 0 for that relu's ``QLinearAdd`` form (:mod:`.int8_requant`); a zero-point
  ``Padding`` before it becomes its ``pads`` (:mod:`.int8_fuse`); at batch 1, the 3x3
  conv of an RGB image: a float ``Conv`` of the codes, exact sums (:mod:`.int8_codeconv`);
* ``MatrixMul`` of ``QuantizedS8``: ``MatMulInteger``;
  ``Elemwise`` ``ADD``/``SUB`` of one ``QuantizedS32``: int32 arithmetic;
  ``ElemwiseMultiType``: ``QADD`` and ``QFUSE_ADD_RELU`` as onnxruntime's ``QLinearAdd``
  (``com.microsoft``); ``QRELU`` and ``QMIN``/``QMAX`` with a constant at the same scale
  (a relu6) as an integer ``Clip`` of the codes (a scale-changing ``QRELU`` of
  ``QuantizedS8``: the fastest form of :mod:`.int8_requant` that gives MegEngine's codes
  on every input code); other modes in float between ``DequantizeLinear`` and
  ``QuantizeLinear``;
* pooling: integer ``MaxPool``, average pooling in float between Q/DQ;
* ``Reshape``, ``Dimshuffle``, ``AxisAddRemove``, ``Padding``, ``Concat`` (of one
  dtype): on the codes (a constant pad value is a code, as in MegEngine's kernel);
* a float tail (:mod:`.int8_tail`): ``Reduce`` (a MEAN pair over H and W: one mean over
  the NHWC transpose, of the codes as an integer sum where it reads a dequantize), float
  ``ConvBias`` (1x1 on a 1x1 image: ``Gemm``, a bias ``ADD`` after it its ``C``); a chain
  of ``Reshape`` nodes is one (:mod:`.int8_fuse`);
* any other op on float vars only (a float ``MatrixMul`` head, a softmax, float
  ``Elemwise``): its op home's ONNX export rule (:mod:`.int8_float`).

Anything else raises :class:`Int8Unsupported` (the plan then runs on the numpy kernels).
Example: ``model = lower_to_onnx(graph)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..dtype import canonical_dtype, dtype_name, get_scale, is_quantize
from ..graph.ir import Graph, OpNode, VarNode
from ..ops.conv import ConvBiasForward, ConvolutionForward
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.nn import MatrixMul
from ..ops.pooling import PoolingForward
from ..ops.quantized import ElemwiseMultiType
from ..ops.reduce import Reduce
from ..ops.shape import AxisAddRemove, Concat, Dimshuffle, Padding, Reshape
from .int8_batch import reshape_target
from .int8_codeconv import code_conv_fits, emit_code_conv
from .int8_float import FloatBridge
from .int8_fuse import fold_pads_into_convs, merge_reshapes
from .int8_lowering import Int8Unsupported, _Lowering, check_one_grid, shifted
from .int8_pool import code_average, code_average_fits, pool_attrs
from .int8_requant import SHIFT, expected_codes, pick_form, prefetch, requant_relu_spec
from .int8_round import requantized_codes
from .int8_tail import bias_add, code_mean, dequantized_mean, mean_pair, spatial_mean
from .specialize import specialize

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"
#: ONNX opset of the lowered models (QuantizeLinear with int32 output needs 21)
OPSET = 21
_FLOAT_MODES = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "MAX": "Max", "MIN": "Min",
                "RELU": "Relu", "SIGMOID": "Sigmoid", "TANH": "Tanh", "H_SWISH": "HardSwish",
                "FUSE_ADD_RELU": ("Add", "Relu"), "FUSE_ADD_SIGMOID": ("Add", "Sigmoid"),
                "FUSE_ADD_TANH": ("Add", "Tanh"), "FUSE_ADD_H_SWISH": ("Add", "HardSwish")}


def _float_chain(low: _Lowering, mode: str, names: list[str], what: str) -> str:
    ops = _FLOAT_MODES.get(mode)
    if ops is None:
        raise Int8Unsupported(f"{what} mode {mode}")
    first, *rest = (ops,) if isinstance(ops, str) else ops
    y = low.node(first, names)
    for op in rest:
        y = low.node(op, [y])
    return y


def _filter(node: OpNode) -> tuple[np.ndarray, int]:
    """The constant filter of a convolution as ONNX's ``(oc, ic/g, KH, KW)``, and ``g``."""
    op = node.op
    x, w, *rest = node.inputs
    if op.format != "NCHW" or not w.is_const or len(rest) > 1:
        raise Int8Unsupported(f"{op.type_name} needs NCHW, a constant filter, no z")
    dense, perm, flip = op.filter_layout()
    filt = (w.value[None] if dense else w.value).transpose(perm)
    if flip:
        filt = filt[..., ::-1, ::-1]
    return filt.reshape(-1, *filt.shape[2:]), filt.shape[0]


def _conv_attrs(op: Any, groups: int) -> dict[str, Any]:
    return {"group": groups, "pads": [op.pad_h, op.pad_w] * 2,
            "strides": [op.stride_h, op.stride_w], "dilations": [op.dilate_h, op.dilate_w]}


def _gemm_conv(low: _Lowering, node: OpNode) -> bool:
    """Whether a float convolution is a classifier after global pooling (1x1, dense, on a
    1x1 image, no z, constant bias, ``IDENTITY``/``RELU``), :func:`_float_conv`'s form."""
    op, (x, w, *rest) = node.op, node.inputs
    return (op.format == "NCHW" and op.sparse == "DENSE" and w.is_const and len(rest) <= 1
            and all(v.is_const for v in rest) and tuple(x.shape[2:]) == (1, 1)
            and tuple(w.shape[2:]) == (1, 1) and (op.pad_h, op.pad_w) == (0, 0)
            and op.epilogue() in ("IDENTITY", "RELU"))


def _float_conv(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    """A float 1x1 convolution on a 1x1 image (:func:`_gemm_conv`; other float ones go to
    their op home's rule, :mod:`.int8_float`) as ``Gemm``, which onnxruntime runs several
    times faster than its ``Conv`` there (a constant bias ``ADD`` after a bias-free one is
    its ``C``, see :mod:`.int8_tail`), ``Relu`` after it for a ``RELU`` epilogue."""
    op, x = node.op, node.inputs[0]
    w = _filter(node)[0].astype(np.float32)
    rest = node.inputs[2:]
    bias = [low.const(np.asarray(rest[0].value, np.float32).reshape(-1), "b")] if rest else []
    nonline = op.epilogue()
    folded = None if bias or nonline != "IDENTITY" else bias_add(low, node.outputs[0])
    if folded is not None:
        low.aliases[folded[0].outputs[0].id] = node.outputs[0].id
        bias = [low.const(folded[1], "b")]
    flat = low.node("Reshape", [names[0], reshape_target(low, x, x.shape[:2])])
    gemm = low.node("Gemm", [flat, low.const(w.reshape(w.shape[:2]), "w"), *bias], transB=1)
    conv = low.node("Reshape", [gemm, reshape_target(low, node.outputs[0])],
                    None if nonline == "RELU" else out)
    if nonline == "RELU":
        low.node("Relu", [conv], out)


def _conv(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    op = node.op
    x, w, *rest = node.inputs
    if not any(is_quantize(v.dtype) for v in (x, w, node.outputs[0])):
        _float_conv(low, node, names, out)
        return
    filt, groups = _filter(node)
    acc_scale = np.float32(get_scale(x.dtype)) * np.float32(get_scale(w.dtype))
    y = node.outputs[0]
    nonline = op.epilogue()
    if nonline not in ("IDENTITY", "RELU"):
        raise Int8Unsupported(f"quantized ConvBias nonlinearity {nonline}")
    if _feeds_requant_relu(low, y):  # relu'd by saturating at uint8 zero point 0
        low.offsets[y.id], nonline = 0, "IDENTITY"
    bias = None
    if rest:
        b = rest[0]
        if not b.is_const or b.shape != (1, filt.shape[0], 1, 1):
            raise Int8Unsupported("quantized ConvBias needs a constant per-channel bias")
        real = b.value.astype(np.float64).reshape(-1) * (get_scale(b.dtype) / float(acc_scale))
        bias = np.rint(real).astype(np.int32)
    if code_conv_fits(low, node, filt, groups, bias):  # the image's conv (:mod:`.int8_codeconv`)
        relu = _same_scale_relu(low, y)  # then the float Conv's Relu (one pass less)
        if nonline == "IDENTITY" and relu is not None:
            low.aliases[relu.outputs[0].id], nonline = y.id, "RELU"
        emit_code_conv(low, node, names[0], filt, bias, _conv_attrs(op, groups),
                       nonline == "RELU", out)
        return
    inputs = [names[0], *low.vq(x), low.const(filt, "w"), *low.qparams(w.dtype), *low.vq(y)]
    if bias is not None:
        inputs.append(low.const(bias, "b"))
    conv = low.node("QLinearConv", inputs, None if nonline == "RELU" else out,
                    **_conv_attrs(op, groups))
    if nonline == "RELU":
        low.node("Clip", [conv, low.vq(y)[1]], out)  # at real 0


def _same_scale_relu(low: _Lowering, y: VarNode) -> OpNode | None:
    """The ``QRELU`` at ``y``'s own scale that alone reads ``y`` (same storage), else None."""
    relu = low.sole_user(y)
    if relu is None or not isinstance(relu.op, ElemwiseMultiType) \
            or relu.op.float_mode() != "RELU":
        return None
    r = relu.outputs[0]
    return relu if _same_qparams(y, r) and low.offset(y) == low.offset(r) else None


def _requant_relu(node: OpNode) -> bool:
    """Whether ``node`` is a ``QRELU`` from one ``QuantizedS8`` scale to another."""
    if not (isinstance(node.op, ElemwiseMultiType) and node.op.float_mode() == "RELU"):
        return False
    (x,), (y,) = node.inputs, node.outputs
    return shifted(x) and shifted(y) and not _same_qparams(x, y)


def _feeds_requant_relu(low: _Lowering, y: VarNode) -> bool:
    """Whether a conv's output ``y`` is read only by a requantizing ``QRELU`` whose
    ``"add"`` form (:mod:`.int8_requant`) is exact: then ``y`` travels relu'd as uint8
    at zero point 0 (``QLinearConv`` saturates there)."""
    relu = low.sole_user(y)
    if not low.relu_add or not shifted(y) or relu is None or not _requant_relu(relu):
        return False
    return pick_form(relu.op, y.dtype, relu.outputs[0].dtype, ("add",))[0] == "add"


def _matmul_operands(low: _Lowering, node: OpNode, names: list[str]) -> tuple[str, str]:
    """A ``MatrixMul``'s two operands, transposed where its flags say (ONNX has none)."""
    op, (a, b) = node.op, names
    if op.transposeA:
        a = low.node("Transpose", [a], perm=[1, 0])
    if op.transposeB:
        b = low.node("Transpose", [b], perm=[1, 0])
    return a, b


def _matmul(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    a, b = _matmul_operands(low, node, names)
    zps = [low.vq(v)[1] for v in node.inputs]
    low.node("MatMulInteger", [a, b, *zps], out)


def _typecvt(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    if dequantized_mean(low, node):  # the codes' integer mean (:mod:`.int8_tail`)
        low.codes[node.outputs[0].id] = (names[0], node.inputs[0])
        return
    src, dst = node.inputs[0].dtype, canonical_dtype(node.op.dtype)
    x = names[0]
    if is_quantize(src):
        x = low.dq(x, node.inputs[0])
    if is_quantize(src) and is_quantize(dst):  # MegEngine's codes, ties included
        requantized_codes(low, x, node.outputs[0], out)
    elif is_quantize(dst):
        low.q(x, node.outputs[0], out)
    else:
        from onnx import helper

        low.node("Cast", [x], out, to=helper.np_dtype_to_tensor_dtype(dst))


def _elemwise(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    mode = node.op.mode
    if mode in ("ADD", "SUB") and node.outputs[0].dtype.itemsize == 4:  # QuantizedS32: exact
        low.node(_FLOAT_MODES[mode], names, out)
        return
    reals = [low.dq(n, v) for n, v in zip(names, node.inputs, strict=True)]
    low.q(_float_chain(low, mode, reals, "quantized Elemwise"), node.outputs[0], out)


def _multi_type(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    mode, y_var = node.op.float_mode(), node.outputs[0]
    if mode in ("ADD", "FUSE_ADD_RELU"):  # onnxruntime's integer QLinearAdd; then
        # quantize(relu(v)) == max(quantize(v), zero point)
        qparams = [p for n, v in zip(names, node.inputs, strict=True) for p in (n, *low.vq(v))]
        zp = low.vq(y_var)
        add = low.node("QLinearAdd", [*qparams, *zp], out if mode == "ADD" else None,
                       domain="com.microsoft")
        if mode == "FUSE_ADD_RELU":
            low.node("Clip", [add, zp[1]], out)
        return
    if _code_clip(low, node, names, out):
        return
    reals = [low.dq(n, v) for n, v in zip(names, node.inputs, strict=True)]
    low.q(_float_chain(low, mode, reals, ElemwiseMultiType.type_name), y_var, out)


def _same_qparams(a: VarNode, b: VarNode) -> bool:
    return a.dtype.metadata["mgb_dtype"] == b.dtype.metadata["mgb_dtype"]


def _code_clip(low: _Lowering, node: OpNode, names: list[str], out: str) -> bool:
    """``QRELU``, and ``QMIN`` / ``QMAX`` with a one-valued constant at the output's scale and
    zero point, as an integer ``Clip`` of the codes (a relu6 is ``QRELU`` then ``QMIN``).

    Bit-exact against DequantizeLinear -> op -> QuantizeLinear: at equal scale and zero point
    the codes survive the float round trip exactly (|code| <= 255), and quantizing is
    monotone with quantize(0) == zero point, so quantize(relu(v)) == max(quantize(v), zp).
    A ``QRELU`` that changes scale between ``QuantizedS8`` dtypes takes the fastest form of
    :mod:`.int8_requant` that gives MegEngine's codes on every input code; between other
    dtypes, onnxruntime's ``QLinearLeakyRelu`` at ``alpha=0`` (a 256-entry table that
    onnxruntime fills with its own DequantizeLinear -> QuantizeLinear).
    Returns False where the form does not apply."""
    mode, y = node.op.float_mode(), node.outputs[0]
    if mode == "RELU":
        (x,), (name,) = node.inputs, names
        if _same_qparams(x, y) and low.offset(x) == low.offset(y):
            low.node("Clip", [name, low.vq(y)[1]], out)
        elif _requant_relu(node):
            _emit_requant_relu(low, node, name, out)
        else:  # onnxruntime's 256-entry table of DequantizeLinear -> Relu -> QuantizeLinear
            low.node("QLinearLeakyRelu", [name, *low.vq(x), *low.vq(y)], out,
                     domain="com.microsoft", alpha=0.0)
        return True
    if mode not in ("MIN", "MAX"):
        return False
    consts = [k for k, v in enumerate(node.inputs) if v.is_const]
    if len(consts) != 1:
        return False
    c, x = node.inputs[consts[0]], node.inputs[1 - consts[0]]
    values = np.unique(np.asarray(c.value))
    if (values.size != 1 or x.shape != y.shape or low.offset(x) != low.offset(y)
            or not (_same_qparams(c, y) and _same_qparams(x, y))):
        return False
    storage, offset = low.storage(y)
    code = int(values[0]) + offset
    info = np.iinfo(storage)
    name = names[1 - consts[0]]
    if (code >= info.max) if mode == "MIN" else (code <= info.min):
        low.node("Identity", [name], out)  # the bound is the storage's own: nothing to clip
        return True
    bound = low.const(np.array(code, storage), "bound")
    low.node("Clip", [name, "", bound] if mode == "MIN" else [name, bound], out)
    return True


def _emit_requant_relu(low: _Lowering, node: OpNode, name: str, out: str) -> None:
    """A ``QRELU`` between two ``QuantizedS8`` scales, in the form :mod:`.int8_requant`
    picks for how its input travels (relu'd at zero point 0: ``"add"``; else ``"table"``
    or MegEngine's own table through ``Gather``)."""
    (x,), (y,) = node.inputs, node.outputs
    allowed = ("add",) if low.offset(x) == 0 else ("table",)
    form, table = pick_form(node.op, x.dtype, y.dtype, allowed)
    if low.offset(x) == 0 and form != "add":  # the conv chose zero point 0 for "add"
        raise Int8Unsupported(f"{node.op.type_name} QRELU: its input travels relu'd at "
                              "zero point 0 but the add form is not exact")
    if form == "gather":
        from onnx import TensorProto

        index = low.node("Cast", [name], to=TensorProto.INT32)
        low.node("Gather", [low.const(expected_codes("gather", table), "table"), index], out)
        return
    op, consts, domain, attrs = requant_relu_spec(form, get_scale(x.dtype), get_scale(y.dtype))
    low.node(op, [name, *(low.const(c, "q") for c in consts)], out, domain=domain, **attrs)


def _pooling(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    op = node.op
    if op.format != "NCHW":
        raise Int8Unsupported(f"quantized pooling format {op.format}")
    if op.mode == "MAX":
        low.node("MaxPool", names, out, **pool_attrs(op))
        return
    from onnx import helper

    x, y = node.inputs[0], node.outputs[0]
    if not code_average_fits(x, y):
        raise Int8Unsupported(f"quantized average pooling from {dtype_name(x.dtype)} to "
                              f"{dtype_name(y.dtype)}")
    codes = low.node("Cast", [names[0]], to=helper.np_dtype_to_tensor_dtype(np.dtype(np.float32)))
    in_offset = low.storage(x)[1]
    if in_offset:
        codes = low.node("Sub", [codes, low.const(np.float32(in_offset), "k")])
    rounded = code_average(low, node, codes)
    storage, offset = low.storage(y)
    if offset:
        rounded = low.node("Add", [rounded, low.const(np.float32(offset), "k")])
    low.node("Cast", [rounded], out, to=helper.np_dtype_to_tensor_dtype(storage))


def _reshape(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    low.node("Reshape", [names[0], reshape_target(low, node.outputs[0])], out)


def _dimshuffle(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    if -1 in node.op.pattern:
        _reshape(low, node, names, out)  # only size-1 axes move: a reshape of the codes
    else:
        low.node("Transpose", names, out, perm=list(node.op.pattern))


def _spatial_mean_pair(low: _Lowering, node: OpNode) -> bool:
    """Whether a float ``Reduce`` is one of a spatial mean pair (:mod:`.int8_tail`)."""
    return node.inputs[0].id in low.deferred or mean_pair(low, node) is not None


def _reduce(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    """A spatial mean pair (:func:`_spatial_mean_pair`; a network's float tail): nothing at
    the first, one mean over H and W at the second."""
    x = node.inputs[0]
    if is_quantize(x.dtype):
        raise Int8Unsupported(f"Reduce {node.op.mode} on {dtype_name(x.dtype)}")
    if x.id in low.deferred:  # the second of a spatial mean pair (:mod:`.int8_tail`)
        name, first = low.deferred.pop(x.id)
        if first.id in low.codes:
            code_mean(low, *low.codes.pop(first.id), node.outputs[0], out)
        else:
            spatial_mean(low, name, node.outputs[0], out)
        return
    low.deferred[node.outputs[0].id] = (names[0], x)  # the mean over H then W (or W then
    # H): at the second


_PAD_MODES = {"CONSTANT": "constant", "REPLICATE": "edge", "REFLECT": "reflect"}


def _pad_inputs(low: _Lowering, node: OpNode, names: list[str]) -> list[str]:
    """ONNX ``Pad``'s data and ``pads`` inputs for a ``Padding`` node (its value is the
    lowering's own: codes or reals)."""
    widths = node.op.pad_width(len(node.inputs[0].shape))
    pads = np.array([f for f, _ in widths] + [b for _, b in widths], np.int64)
    return [names[0], low.const(pads, "pads")]


def _padding(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    op, x = node.op, node.inputs[0]
    inputs = _pad_inputs(low, node, names)
    if op.padding_mode == "CONSTANT":
        storage, offset = low.storage(x)
        code = int(op.padding_val) + offset
        info = np.iinfo(storage)  # codes (a float Padding: :mod:`.int8_float`)
        if not info.min <= code <= info.max:
            raise Int8Unsupported(f"Padding value {op.padding_val} on {dtype_name(x.dtype)}")
        inputs.append(low.const(np.array(code, storage), "pad_value"))
    low.node("Pad", inputs, out, mode=_PAD_MODES[op.padding_mode])


def _concat(low: _Lowering, node: OpNode, names: list[str], out: str) -> None:
    """``Concat`` of the codes (of one quantized dtype; a float one: :mod:`.int8_float`),
    each input moved to the zero point the output travels at (exact: one scale)."""
    check_one_grid(node)
    y = node.outputs[0]
    codes = [n if low.offset(v) == low.offset(y) else low.q(low.dq(n, v), y)
             for n, v in zip(names, node.inputs, strict=True)]
    low.node("Concat", codes, out, axis=node.op.axis)


#: float ops the lowerings write themselves where the predicate holds (a classifier's 1x1
#: conv as ``Gemm``, a spatial mean pair), or always (``None``: shape ops, as on codes); any
#: other op on float vars only is its op home's export rule (:mod:`.int8_float`)
OWN_FLOAT_FORMS = {ConvBiasForward: _gemm_conv, ConvolutionForward: _gemm_conv,
                   Reduce: _spatial_mean_pair, Reshape: None, AxisAddRemove: None,
                   Dimshuffle: None}

_RULES = {ConvBiasForward: _conv, MatrixMul: _matmul, TypeCvt: _typecvt,
          Elemwise: _elemwise, ElemwiseMultiType: _multi_type, PoolingForward: _pooling,
          Reshape: _reshape, AxisAddRemove: _reshape, Dimshuffle: _dimshuffle,
          Padding: _padding, ConvolutionForward: _conv, Reduce: _reduce, Concat: _concat}


def _onnx_type(var: VarNode) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(var.dtype.str))


class Lowered(NamedTuple):
    """A lowering's model, graph (specialized), state and var names (:mod:`.int8_layers`)."""

    model: Any
    graph: Graph
    low: _Lowering
    names: dict[int, str]


def lower_to_onnx(graph: Graph, *, relu_add: bool = True, fold_pads: bool = True) -> Any:
    """The ONNX model of a quantized ``graph``; see :func:`trace_lowering`."""
    return trace_lowering(graph, relu_add=relu_add, fold_pads=fold_pads).model


def trace_lowering(graph: Graph, *, relu_add: bool = True, fold_pads: bool = True
                   ) -> Lowered:
    """The ONNX model of a quantized ``graph`` (inputs ``in<k>``, outputs ``out<k>``) and
    what it was made of. ``relu_add`` and ``fold_pads`` (both exact; off: the plainer
    forms, for comparisons): a requantizing ``QRELU`` after a conv as the conv saturating
    at zero point 0 and one ``QLinearAdd`` (:mod:`.int8_requant`); a ``Pad`` at the zero
    point into the ``QLinearConv`` reading it (:mod:`.int8_fuse`).

    Raises:
        Int8Unsupported: an op (or a form of one) the lowering does not cover, named.
    """
    from onnx import helper
    for var in (*graph.inputs, *graph.outputs):
        if shifted(var):
            raise Int8Unsupported(f"a QuantizedS8 graph input or output ({var.name})")
    graph = specialize(graph, {})  # shape chains (GetVarShape ...) folded for its input sizes
    low = _Lowering()
    low.relu_add = relu_add
    prefetch([(form, get_scale(n.inputs[0].dtype), get_scale(n.outputs[0].dtype))
              for n in graph.ops() if _requant_relu(n) for form in ("add", "table")])
    low.index(graph)
    names = {var.id: f"in{k}" for k, var in enumerate(graph.inputs)}
    low.lower_ops(graph, _RULES, names, lambda low, var, value: low.const(
        np.asarray(value, np.dtype(var.dtype.str))), FloatBridge(low, OPSET, OWN_FLOAT_FORMS))
    outputs = []
    for k, var in enumerate(graph.outputs):
        low.node("Identity", [names[var.id]], f"out{k}")
        outputs.append(helper.make_tensor_value_info(f"out{k}", _onnx_type(var), var.shape))
    inputs = [helper.make_tensor_value_info(f"in{k}", _onnx_type(v), v.shape)
              for k, v in enumerate(graph.inputs)]
    nodes = fold_pads_into_convs(low.nodes, low.inits) if fold_pads else low.nodes
    nodes = merge_reshapes(nodes, low.inits)
    g = helper.make_graph(nodes, "mge_int8", inputs, outputs, low.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET),
                                                helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return Lowered(model, graph, low, names)


__all__ = ["OPSET", "SHIFT", "Int8Unsupported", "Lowered", "lower_to_onnx", "shifted",
           "trace_lowering"]
