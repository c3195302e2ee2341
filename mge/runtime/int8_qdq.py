"""Quantized graphs as QDQ ONNX models of real values, the form OpenVINO runs on int8 kernels.

Where :mod:`.int8_onnx` moves integer codes between onnxruntime's ``QLinear*`` ops, this
lowering moves the *real values* a quantized var stands for, in float32, and marks every
quantization with a ``QuantizeLinear`` -> ``DequantizeLinear`` pair (OpenVINO reads the
pair as a ``FakeQuantize``; its low-precision transformations then run the float op
between two such pairs, or fed by a dequantized int8 constant, on integer kernels):

* a quantized var of 8 bits: its op in float, then the Q/DQ pair at its scale and zero
  point (``QuantizedS8`` activations as uint8 at zero point 128 by default: the same
  reals, and the u8 x s8 products of x86's VNNI units); ``QuantizedS32`` vars (conv and
  matmul accumulators): plain float, no pair;
* quantized constants (filters, int8 matmul operands): their codes, ``DequantizeLinear``;
  a conv's ``QuantizedS32`` bias: its reals as a float32 bias (``int32_bias``: its int32
  codes, ``DequantizeLinear``, as ONNX's QDQ tools write a bias);
* ``ConvBias`` (``IDENTITY``/``RELU``): ``Conv`` (+ ``Relu``) on the reals; ``MatrixMul``:
  ``MatMul``; ``Elemwise`` / ``ElemwiseMultiType``: their float form (``QADD`` ->
  ``Add``, ``QFUSE_ADD_RELU`` -> ``Add`` + ``Relu`` ...); pooling, ``Reshape``,
  ``Dimshuffle``, ``AxisAddRemove``, ``Padding`` (a pad code as its real), ``Concat`` (of
  one dtype: no new pair); ``TypeCvt`` from float or from another scale (a requantizing
  ``M.quantized.Concat`` input): the reals moved to MegEngine's grid point
  (:mod:`.int8_round`, ties away from zero), then a new pair; to float: nothing; the
  float tail as :mod:`.int8_onnx` writes it (other ops on float vars only: their op
  homes' export rules, :mod:`.int8_float`, which follow a free batch too);
* quantized graph inputs arrive as codes (``DequantizeLinear``), quantized outputs leave
  as codes (``QuantizeLinear``; 32-bit: ``Round`` of the real over its scale).

For a free batch size (``batch`` of :func:`trace_qdq`, the dynamic-batch QDQ export),
``Reshape`` targets hold ``-1`` on the batch axis and the edges a symbolic batch dim
(:mod:`.int8_batch`); the plans lower each shape statically.

Elsewhere rounding differs from MegEngine's (a conv's or an add's requantization: ties to
even, each engine's own factor): results agree within about one quantization step per
op, not bit for bit.
Anything else raises :class:`~.int8_onnx.Int8Unsupported` naming the op.

Example:
    >>> model = lower_to_qdq(graph)                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..dtype import canonical_dtype, code_zero_point, dtype_name, get_scale, is_quantize
from ..graph.ir import Graph, OpNode, VarNode
from ..ops.batching import BatchDim
from ..ops.conv import ConvBiasForward, ConvolutionForward
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.nn import MatrixMul
from ..ops.pooling import PoolingForward
from ..ops.quantized import ElemwiseMultiType
from ..ops.reduce import Reduce
from ..ops.shape import AxisAddRemove, Concat, Dimshuffle, Padding, Reshape
from .int8_batch import edge_dims
from .int8_float import FloatBridge
from .int8_lowering import Int8Unsupported, _Lowering, check_one_grid, shifted
from .int8_onnx import (
    _PAD_MODES,
    OWN_FLOAT_FORMS,
    Lowered,
    _conv_attrs,
    _dimshuffle,
    _filter,
    _float_chain,
    _float_conv,
    _matmul_operands,
    _onnx_type,
    _pad_inputs,
    _reduce,
    _reshape,
)
from .int8_pool import code_average, code_average_fits, pool_attrs
from .int8_requant import SHIFT
from .int8_round import megengine_codes
from .specialize import specialize

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"
#: ONNX opset of the QDQ models (that of :mod:`.int8_onnx`, whose float-tail forms this
#: lowering shares: ``ReduceMean`` with its axes as an input)
OPSET = 21


def _bits(var: VarNode) -> int:
    return var.dtype.itemsize * 8


class _QdqLowering(_Lowering):
    """Names carry float32 reals; :meth:`fq` marks a quantization."""

    def __init__(self, shift: bool, int32_bias: bool = False) -> None:
        super().__init__()
        self.shift = shift
        self.int32_bias = int32_bias
        #: conv outputs relu'd before their quantization (their ``QRELU`` only requantizes)
        self.relu_first: set[int] = set()

    def offset(self, var: VarNode) -> int | None:
        return SHIFT if self.shift and shifted(var) else None

    def fq(self, name: str, var: VarNode, out: str | None = None) -> str:
        """``name``'s reals quantized as ``var`` (a Q/DQ pair; nothing for 32-bit vars)."""
        if not is_quantize(var.dtype) or _bits(var) > 8:
            return self.node("Identity", [name], out)
        return self.node("DequantizeLinear", [self.q(name, var), *self.vq(var)], out)

    def real(self, value: np.ndarray, var: VarNode) -> np.ndarray:
        """The float32 reals of the codes ``value`` of ``var``."""
        codes = np.asarray(value).astype(np.float64) - code_zero_point(var.dtype)
        return (codes * get_scale(var.dtype)).astype(np.float32)


def _same_qparams(a: VarNode, b: VarNode) -> bool:
    return (is_quantize(a.dtype) and is_quantize(b.dtype)
            and a.dtype.metadata["mgb_dtype"] == b.dtype.metadata["mgb_dtype"])


def _conv(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    op = node.op
    x, w, *rest = node.inputs
    y = node.outputs[0]
    if not any(is_quantize(v.dtype) for v in (x, w, y)):
        _float_conv(low, node, names, out)
        return
    if not (is_quantize(x.dtype) and is_quantize(w.dtype)):
        raise Int8Unsupported(f"{op.type_name} of {dtype_name(x.dtype)} by "
                              f"{dtype_name(w.dtype)}")
    filt, groups = _filter(node)
    weights = low.node("DequantizeLinear", [low.const(filt, "w"), *low.qparams(w.dtype)])
    inputs = [names[0], weights]
    if rest:
        b = rest[0]
        if not b.is_const or b.shape != (1, filt.shape[0], 1, 1):
            raise Int8Unsupported(f"{op.type_name} needs a constant per-channel bias")
        inputs.append(_bias(low, b))
    nonline = op.epilogue()
    if nonline not in ("IDENTITY", "RELU"):
        raise Int8Unsupported(f"quantized {op.type_name} nonlinearity {nonline}")
    conv = low.node("Conv", inputs, **_conv_attrs(op, groups))
    if nonline == "IDENTITY" and _feeds_relu(low, y):
        low.relu_first.add(y.id)
        nonline = "RELU"
    if nonline == "RELU":
        conv = low.node("Relu", [conv])
    low.fq(conv, y, out)


def _bias(low: _QdqLowering, b: VarNode) -> str:
    """A conv's constant bias: float32 reals, or (``int32_bias``) a ``QuantizedS32``
    bias's codes dequantized."""
    if not is_quantize(b.dtype):
        return low.const(b.value.astype(np.float32).reshape(-1), "b")
    if low.int32_bias and _bits(b) == 32:
        codes = low.const(np.asarray(b.value, np.int32).reshape(-1), "b_codes")
        return low.node("DequantizeLinear", [codes, *low.qparams(b.dtype)])
    return low.const(low.real(b.value, b).reshape(-1), "b")


def _matmul(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    low.fq(low.node("MatMul", list(_matmul_operands(low, node, names))), node.outputs[0], out)


def _typecvt(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    dst = canonical_dtype(node.op.dtype)
    if is_quantize(dst):
        if _bits(node.outputs[0]) > 8:
            raise Int8Unsupported(f"TypeCvt to {dtype_name(dst)}")
        if _same_qparams(node.inputs[0], node.outputs[0]):
            low.node("Identity", names, out)
        else:  # from float, or another scale (M.quantized.Concat's requantization)
            low.fq(_megengine_grid(low, names[0], dst), node.outputs[0], out)
    elif dst == np.float32:  # of a quantized var (a float one's: :mod:`.int8_float`)
        low.node("Identity", names, out)
    else:
        raise Int8Unsupported(f"TypeCvt from {dtype_name(node.inputs[0].dtype)} to "
                              f"{dtype_name(dst)}")


def _megengine_grid(low: _QdqLowering, name: str, dtype: np.dtype) -> str:
    """The float reals ``name`` moved to the grid point MegEngine's ``TypeCvt`` quantizes
    them to: ``roundf(x / scale) * scale`` (the op home's ``round_half_away``: ties away
    from zero; a ``FakeQuantize`` rounds ``x / scale`` its own way: an image's
    ``2 * p / 255 - 1`` at scale ``1 / 127.5`` is a half, or within a float32 step of
    one, at every pixel, and OpenVINO rounded half of MobileNetV2's input codes
    differently; now none). OpenVINO runs the chain as one fused elementwise pass (the
    pair after it then only clips): on MobileNetV2 4-8% more CPU time at batch 1 and 8,
    ResNet-18 1-3% (one thread, A/B in one process, loaded machine; a ``TypeCvt`` between
    two scales, as ResNet-18's logits requantized, runs it too); the home's general
    spelling (3 nodes more, exact at any precision) cost 3-5% more of the chain at batch
    1 than its float32 one, which this is. Not exact everywhere:
    OpenVINO's CPU division is not float32's correctly rounded one (1728 of 200000
    random quotients one step off), so a quotient within a step of a half may still
    round the other way (``1.5 * scale / scale`` came out below 1.5: 3 of 512 pixels in
    ``tests/runtime/test_int8_layers.py``; onnxruntime's QuantizeLinear: 99)."""
    scale = low.const(np.float32(get_scale(dtype)), "s")
    return low.node("Mul", [megengine_codes(low, name, dtype, scale), scale])


def _elemwise(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    what = node.op.type_name if not is_quantize(node.outputs[0].dtype) else \
        f"quantized {node.op.type_name}"
    y = _float_chain(low, node.op.mode, names, what)
    low.fq(y, node.outputs[0], out)


def _multi_type(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    mode, y = node.op.float_mode(), node.outputs[0]
    if mode == "RELU" and node.inputs[0].id in low.relu_first:  # the conv relu'd already
        if _same_qparams(node.inputs[0], y):  # and quantized on this grid: nothing left
            low.node("Identity", names, out)
        else:
            low.fq(names[0], y, out)
        return
    if mode in ("RELU", "MIN", "MAX") and all(_same_qparams(v, y) for v in node.inputs):
        # on one grid these give grid values (0 is the zero point's): no new quantization
        bound = _no_op_bound(low, node, names)
        if bound is not None:
            low.node("Identity", [bound], out)
        else:
            _float_chain(low, mode, names, ElemwiseMultiType.type_name)
            low.nodes[-1].output[0] = out
        return
    low.fq(_float_chain(low, mode, names, ElemwiseMultiType.type_name), y, out)


def _no_op_bound(low: _QdqLowering, node: OpNode, names: list[str]) -> str | None:
    """For a ``QMIN``/``QMAX`` whose constant is at or beyond the end of its dtype's codes
    (a relu6 at the top of int8), the other input's name: the op changes nothing."""
    mode = node.op.float_mode()
    consts = [k for k, v in enumerate(node.inputs) if v.is_const]
    if mode not in ("MIN", "MAX") or len(consts) != 1:
        return None
    c = node.inputs[consts[0]]
    info = np.iinfo(np.dtype(c.dtype.str))
    codes = np.asarray(c.value)
    if (codes >= info.max).all() if mode == "MIN" else (codes <= info.min).all():
        return names[1 - consts[0]]
    return None


def _feeds_relu(low: _QdqLowering, y: VarNode) -> bool:
    """Whether a conv's output ``y`` (zero point 0) is read only by a ``QRELU``: then the
    conv relus before its own quantization, exactly (quantizing at zero point 0 commutes
    with relu), and OpenVINO fuses the relu into the convolution. The ``QRELU`` itself
    then requantizes to its own scale, or at the conv's scale adds nothing: a float
    ``Relu`` after the conv's Q/DQ pair would leave the next convolution without a
    dequantized input, in float (34 of MobileNetV2's 52 convolutions: the plan was
    1.9-2.6x slower)."""
    relu = low.sole_user(y)
    return (relu is not None and isinstance(relu.op, ElemwiseMultiType)
            and relu.op.float_mode() == "RELU" and _bits(y) <= 8
            and code_zero_point(y.dtype) == 0)


def _pooling(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    """Max pooling of the reals; average pooling of 8-bit codes as MegEngine averages them
    (the codes recovered from the reals, their average rounded half away from zero, see
    :func:`.int8_pool.code_average`; a float average of the reals quantized would round
    ties to even); other average pooling of the reals, quantized."""
    op, x, y = node.op, node.inputs[0], node.outputs[0]
    if op.format != "NCHW":
        raise Int8Unsupported(f"{op.type_name} format {op.format}")
    if op.mode == "MAX":
        pooled = low.node("MaxPool", names, **pool_attrs(op))
        if _same_qparams(x, y):  # the max of quantized reals is one of them
            low.node("Identity", [pooled], out)
            return
    elif is_quantize(x.dtype) and _bits(x) <= 8 and code_average_fits(x, y):
        scale = low.const(np.float32(get_scale(x.dtype)), "s")
        codes = low.node("Round", [low.node("Div", [names[0], scale])])  # exact: |q| <= 255
        pooled = low.node("Mul", [code_average(low, node, codes), scale])
    elif op.covers_input(x.shape):
        pooled = low.node("GlobalAveragePool", names)
    else:
        pooled = low.node("AveragePool", names, count_include_pad=int(op.mode == "AVERAGE"),
                          **pool_attrs(op))
    low.fq(pooled, y, out)


def _padding(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    op, x = node.op, node.inputs[0]
    inputs = _pad_inputs(low, node, names)
    if op.padding_mode == "CONSTANT":
        value = np.array(op.padding_val)
        real = low.real(value, x) if is_quantize(x.dtype) else value.astype(np.float32)
        inputs.append(low.const(real, "pad_value"))
    low.node("Pad", inputs, out, mode=_PAD_MODES[op.padding_mode])


def _concat(low: _QdqLowering, node: OpNode, names: list[str], out: str) -> None:
    """``Concat`` of the reals: on one quantization grid (MegEngine's dumps of
    ``M.quantized.Concat`` requantize each input with a ``TypeCvt`` first) its values are
    already quantized; no new pair."""
    check_one_grid(node)
    low.node("Concat", names, out, axis=node.op.axis)


_RULES = {ConvBiasForward: _conv, ConvolutionForward: _conv, MatrixMul: _matmul,
          TypeCvt: _typecvt, Elemwise: _elemwise, ElemwiseMultiType: _multi_type,
          PoolingForward: _pooling, Reshape: _reshape, AxisAddRemove: _reshape,
          Dimshuffle: _dimshuffle, Padding: _padding, Reduce: _reduce,
          Concat: _concat}


def _const(low: _QdqLowering, var: VarNode, value: np.ndarray) -> str:
    if not is_quantize(var.dtype):
        return low.const(np.asarray(value, np.dtype(var.dtype.str)))
    if _bits(var) > 8:  # an int32 accumulator constant: its reals
        return low.const(low.real(value, var))
    codes = low.const(np.asarray(value, np.dtype(var.dtype.str)), "codes")
    return low.node("DequantizeLinear", [codes, *low.qparams(var.dtype)])


def _edge_types(graph: Graph) -> None:
    for var in (*graph.inputs, *graph.outputs):
        if not (is_quantize(var.dtype) or var.dtype == np.float32):
            raise Int8Unsupported(f"a graph input or output of {dtype_name(var.dtype)} "
                                  f"({var.name})")


def lower_to_qdq(graph: Graph, *, shift: bool = True, int32_bias: bool = False) -> Any:
    """The QDQ ONNX model of a quantized ``graph``; see :func:`trace_qdq`."""
    return trace_qdq(graph, shift=shift, int32_bias=int32_bias).model


#: each var's batch dim ``(axis, mult)`` by id (``None``: no batch)
BatchDims = Mapping[int, BatchDim | None]


def trace_qdq(graph: Graph, *, shift: bool = True, int32_bias: bool = False,
              batch: Callable[[Graph], BatchDims] | None = None) -> Lowered:
    """The QDQ ONNX model of a quantized ``graph`` (inputs ``in<k>``, outputs ``out<k>``,
    each of its var's storage type: float32, or a quantized var's codes), with the names
    of its vars' reals (:class:`~.int8_onnx.Lowered`).

    ``shift``: ``QuantizedS8`` activations quantized as uint8 at zero point 128 (the same
    reals; OpenVINO's int8 convolutions then read unsigned activations); off: as int8.
    ``int32_bias``: a conv's ``QuantizedS32`` bias as its int32 codes and a
    ``DequantizeLinear`` (off: its float32 reals).
    ``batch``: for a free batch size, the batch dim of each var (by id) of the graph the
    lowering reads (``graph`` specialized, passed to it): ``Reshape`` targets hold ``-1``
    and the edges a symbolic dim on the batch axis (:mod:`.int8_batch`), float ops'
    export rules (:mod:`.int8_float`) see the batch axes as in a float ``dynamic_batch``
    export; it may raise to refuse the graph. ``None``: static shapes.

    Raises:
        Int8Unsupported: an op (or a form of one) the lowering does not cover; the
            message names it.
    """
    from onnx import helper

    _edge_types(graph)
    graph = specialize(graph, {})  # shape chains (GetVarShape ...) folded for its input sizes
    low = _QdqLowering(shift, int32_bias)
    if batch is not None:
        low.batch = dict(batch(graph))
    low.index(graph)
    names: dict[int, str] = {}
    for k, var in enumerate(graph.inputs):
        names[var.id] = f"in{k}"
        if is_quantize(var.dtype):
            names[var.id] = low.node("DequantizeLinear", [f"in{k}", *low.qparams(var.dtype)])
    low.lower_ops(graph, _RULES, names, _const, FloatBridge(low, OPSET, OWN_FLOAT_FORMS))
    outputs = []
    for k, var in enumerate(graph.outputs):
        _emit_output(low, var, names[var.id], f"out{k}")
        outputs.append(helper.make_tensor_value_info(f"out{k}", _onnx_type(var),
                                                     edge_dims(low, var)))
    inputs = [helper.make_tensor_value_info(f"in{k}", _onnx_type(v), edge_dims(low, v))
              for k, v in enumerate(graph.inputs)]
    g = helper.make_graph(low.nodes, "mge_int8_qdq", inputs, outputs, low.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", OPSET)])
    return Lowered(model, graph, low, names)


def _emit_output(low: _QdqLowering, var: VarNode, name: str, out: str) -> None:
    """A graph output as its storage: float32 reals, or a quantized var's codes."""
    if not is_quantize(var.dtype):
        low.node("Identity", [name], out)
    elif _bits(var) <= 8:
        low.node("QuantizeLinear", [name, *low.qparams(var.dtype)], out)
    else:
        from onnx import TensorProto

        scale = low.const(np.array(get_scale(var.dtype), np.float32), "s")
        low.node("Cast", [low.node("Round", [low.node("Div", [name, scale])])], out,
                 to=TensorProto.INT32)


__all__ = ["OPSET", "BatchDims", "lower_to_qdq", "trace_qdq"]
