"""The float tail of an int8 net in the int8 ONNX lowerings (:mod:`.int8_onnx`): its global
average pool and its classifier's bias.

* A spatial mean pair (``Reduce`` MEAN over H, then over W, or W then H) is one mean over
  the NHWC transpose of its input: onnxruntime runs its ``QLinearConv``s channels-last and
  cancels that transpose against its own layout one (a ``GlobalAveragePool`` of NCHW kept
  a transpose of the whole last activation). A float rewrite: within float rounding.
* Where the pair reads a dequantized activation (a ``TypeCvt`` from 8-bit codes that
  nothing else reads), the mean is the codes' exact int32 sum (``MatMulInteger`` of a row
  of ones with the ``(H * W, C)`` codes of each image, zero point subtracted) times
  ``scale / (H * W)``: no float copy of the last activation is written or reduced. The
  real mean up to float32 rounding (MegEngine's float sum of the dequantized values rounds
  each partial sum; this rounds once).
* A constant per-channel ``ADD`` read from a bias-free float 1x1 classifier conv lowered as
  ``Gemm`` becomes that ``Gemm``'s ``C`` input (one pass, no reshapes around an ``Add``).

Example:
    >>> partner = mean_pair(low, reduce_node)                   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtype import canonical_dtype, get_scale, is_quantize
from ..graph.ir import OpNode, VarNode
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.reduce import Reduce
from .int8_batch import reshape_target

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"
#: the most ``H * W`` whose sum of 8-bit codes (each at most 255 from its zero point)
#: is exact in float32 (2**24)
_EXACT_COUNT = (1 << 24) // 255


def mean_pair(low: Any, node: OpNode) -> OpNode | None:
    """The second ``Reduce`` of the spatial mean pair that ``node`` starts (a float MEAN
    over axis 2 or 3 of a 4-d var, read only by a MEAN over the other axis), else None."""
    op, x = node.op, node.inputs[0]
    if not (isinstance(op, Reduce) and op.mode == "MEAN" and op.data_type == "DEFAULT"
            and len(x.shape) == 4 and op.axis in (2, 3) and not is_quantize(x.dtype)):
        return None
    user = low.sole_user(node.outputs[0])
    if (user is None or not isinstance(user.op, Reduce) or user.op.mode != "MEAN"
            or user.op.axis != 5 - op.axis or user.op.data_type != "DEFAULT"):
        return None
    return user


def dequantized_mean(low: Any, node: OpNode) -> bool:
    """Whether ``node`` is a ``TypeCvt`` of 8-bit codes to float32 read only by a spatial
    mean pair whose sum of codes is exact in float32 (then :func:`code_mean` lowers both)."""
    if not isinstance(node.op, TypeCvt):
        return False
    (x,), (y,) = node.inputs, node.outputs
    if (not is_quantize(x.dtype) or x.dtype.itemsize != 1
            or canonical_dtype(node.op.dtype) != np.float32 or len(x.shape) != 4
            or x.shape[2] * x.shape[3] > _EXACT_COUNT):
        return False
    first = low.sole_user(y)
    return first is not None and mean_pair(low, first) is not None


def spatial_mean(low: Any, name: str, y: VarNode, out: str) -> None:
    """The mean over H and W of the float NCHW ``name`` as ``y``'s ``(N, C, 1, 1)``, taken
    over its NHWC transpose."""
    nhwc = low.node("Transpose", [name], perm=[0, 2, 3, 1])
    mean = low.node("ReduceMean", [nhwc, low.const(np.array([1, 2], np.int64), "axes")],
                    keepdims=0)
    low.node("Reshape", [mean, reshape_target(low, y)], out)


def code_mean(low: Any, codes: str, x: VarNode, y: VarNode, out: str) -> None:
    """The float mean over H and W of the reals of ``x``'s 8-bit codes ``codes`` (NCHW, as
    ``x`` travels) as ``y``'s ``(N, C, 1, 1)``: an exact integer sum, scaled once."""
    from onnx import TensorProto

    n, c, h, w = x.shape
    nhwc = low.node("Transpose", [codes], perm=[0, 2, 3, 1])
    rows = low.node("Reshape", [nhwc, low.const(np.array([n, h * w, c], np.int64), "shape")])
    ones = low.const(np.ones((1, h * w), np.uint8), "ones")
    sums = low.node("MatMulInteger", [ones, rows, low.const(np.uint8(0), "zp"),
                                      low.vq(x)[1]])
    scale = np.float32(np.float64(np.float32(get_scale(x.dtype))) / (h * w))
    mean = low.node("Mul", [low.node("Cast", [sums], to=TensorProto.FLOAT),
                            low.const(scale, "s")])
    low.node("Reshape", [mean, low.const(np.array(y.shape, np.int64), "shape")], out)


def bias_add(low: Any, y: VarNode) -> tuple[OpNode, np.ndarray] | None:
    """The float ``Elemwise`` ``ADD`` that alone reads the classifier conv output ``y``
    (``(N, C, 1, 1)``) with a constant ``(1, C, 1, 1)``, and that constant as ``(C,)``."""
    add = low.sole_user(y)
    if add is None or not isinstance(add.op, Elemwise) or add.op.mode != "ADD" \
            or len(add.inputs) != 2 or add.outputs[0].shape != y.shape:
        return None
    other = add.inputs[1] if add.inputs[0] is y else add.inputs[0]
    channels = y.shape[1]
    if (other is y or not other.is_const or tuple(other.shape) != (1, channels, 1, 1)
            or other.dtype != np.float32 or add.outputs[0].dtype != np.float32):
        return None
    return add, np.asarray(other.value, np.float32).reshape(channels)


__all__ = ["bias_add", "code_mean", "dequantized_mean", "mean_pair", "spatial_mean"]
