"""The image's quantized conv at batch 1 as a float ``Conv`` of the codes
(``mge/runtime/int8_codeconv.py``): exact integer sums, requantized within one step of
the numpy int8 kernels and to ``QLinearConv``'s codes; ``QLinearConv`` at batch 2, and
where a float accumulator could not hold every partial sum exactly."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

from tests.runtime.test_int8_requant import _run

pytest.importorskip("onnxruntime")

OUT_SCALE = 0.05


def _graph(batch: int, own_pads: bool, bias_code: int = 0, kernel: int = 3,
           pool: bool = False) -> Any:
    """float (batch, 3, 9, 9) -> int8 -> [Padding (0, 1, 0, 1) | the conv's own pads] ->
    ``kernel`` x ``kernel`` stride-2 ConvBias (3 -> 8, int32 bias; with the Padding a
    RELU epilogue, else a same-scale QRELU after it) [-> 2x2 max pooling] -> float;
    ``bias_code`` added to every bias code."""
    from mge.dtype import dtype_spec, qint8, qint32
    from mge.graph.ir import Graph
    from mge.ops.conv import ConvBiasForward
    from mge.ops.elemwise import TypeCvt
    from mge.ops.pooling import PoolingForward
    from mge.ops.quantized import ElemwiseMultiType
    from mge.ops.shape import Padding

    rng = np.random.default_rng(3)
    g = Graph()
    x = g.add_input("x", (batch, 3, 9, 9), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.02))), [x])
    if not own_pads:
        (q,) = g.add_op(Padding(front_offset_dim2=0, back_offset_dim2=1, front_offset_dim3=0,
                                back_offset_dim3=1, padding_mode="CONSTANT",
                                padding_val=0), [q])
    w = rng.integers(-127, 128, (8, 3, kernel, kernel)).astype(qint8(0.01))
    bias = (rng.integers(-3000, 3000, (1, 8, 1, 1)) + bias_code).astype(qint32(0.02 * 0.01))
    pad = 1 if own_pads else 0
    out = dtype_spec(qint8(OUT_SCALE))
    (c,) = g.add_op(ConvBiasForward(dtype=out, stride_h=2, stride_w=2, pad_h=pad, pad_w=pad,
                                    nonlineMode="IDENTITY" if own_pads else "RELU"),
                    [q, g.add_const(w), g.add_const(bias)])
    if own_pads:
        (c,) = g.add_op(ElemwiseMultiType(mode="QRELU", dtype=out), [c])
    if pool:
        (c,) = g.add_op(PoolingForward(mode="MAX", window_h=2, window_w=2, stride_h=2,
                                       stride_w=2), [c])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [c])[0]]
    return g


def _ops(graph: Any) -> collections.Counter:
    from mge.runtime.int8_onnx import lower_to_onnx

    return collections.Counter(n.op_type for n in lower_to_onnx(graph).graph.node)


@pytest.mark.parametrize("own_pads", [False, True])
def test_batch_one_float_conv_of_codes(own_pads: bool, tmp_path: Any) -> None:
    x = np.random.default_rng(4).normal(scale=1.5, size=(2, 3, 9, 9)).astype("float32")
    ops = _ops(_graph(1, own_pads))
    # the codes' offset (uint8 q + 128) is in the float bias, or subtracted where the
    # conv pads (with a float 0)
    assert ops["Conv"] == 1 and ops["QLinearConv"] == 0 and ops["Sub"] == int(own_pads)
    assert ops["Relu"] == 1 and ops["Clip"] == 0  # a separate QRELU too: the float Relu
    # only the output's DequantizeLinear: one before the Conv would be fused by onnxruntime
    assert ops["DequantizeLinear"] == 1
    assert _ops(_graph(2, own_pads))["QLinearConv"] == 1
    one = np.concatenate([_run(_graph(1, own_pads), tmp_path, "onnxruntime-int8", x[k:k + 1])[0]
                          for k in range(2)])
    qlinear = _run(_graph(2, own_pads), tmp_path, "onnxruntime-int8", x)[0]
    numpy = _run(_graph(2, own_pads), tmp_path, "numpy", x)[0]
    assert np.abs(one - numpy).max() <= OUT_SCALE * 1.0001
    np.testing.assert_array_equal(one, qlinear)
    assert len(np.unique(one)) > 20 and (one == 0).any()  # the relu cuts


@pytest.mark.parametrize("case", ["bias", "kernel", "pool"])
def test_qlinear_conv_elsewhere(case: str) -> None:
    """``QLinearConv`` where a float32 partial sum could round (a bias near 2**24 at the
    accumulator's scale), for a 5x5 filter (75 taps), and before a pooling (onnxruntime's
    pooling is channels-last only after a ``QLinearConv``)."""
    graph = _graph(1, False, bias_code=(1 << 24) * (case == "bias"),
                   kernel=5 if case == "kernel" else 3, pool=case == "pool")
    ops = _ops(graph)
    assert ops["QLinearConv"] == 1 and ops["Conv"] == 0
