"""MegEngine's round half away from zero has one ONNX spelling
(``mge/ops/elemwise/onnx_export.py``'s ``round_half_away``), used by ``Elemwise(ROUND)``'s
export, the fake-quant ops' and the int8 QDQ lowering's input quantization: exact on every
value tried (halves and their neighbours at every magnitude up to past the last fraction,
random bit patterns, infinities, NaN), in float16 and float32, against the numpy kernel,
in onnxruntime (float32 takes the cheaper form, exact with float32 sums; float16 the form
exact at any working precision: onnxruntime computes float16 chains in float32); and the
QDQ lowering quantizes an input as MegEngine's ``TypeCvt`` does."""

from __future__ import annotations

import numpy as np
import pytest

from mge.backends import load_backend
from mge.convert.onnx.exporter import export_graph
from mge.graph.ir import Graph
from mge.ops.elemwise import Elemwise

ort = pytest.importorskip("onnxruntime")
#: the ops of the spelling, by dtype: float32's ``floor(|x| + h) * where(x < 0, -1, 1)``;
#: the general one
ROUND_OPS = {"float32": ["Abs", "Add", "Floor", "Less", "Where", "Mul"],
             "float16": ["Abs", "Floor", "Sign", "Sub", "GreaterOrEqual", "Cast", "Add", "Mul"]}


def _hard_values(dtype: np.dtype) -> np.ndarray:
    """Each integer k and k + 0.5 of several magnitudes and the 3 floats on either side,
    both signs, with random bit patterns and the special values."""
    info = np.finfo(dtype)
    bits = info.nmant + 1  # past 2**bits every float is an even integer
    ks = np.concatenate([np.arange(0, 1030)] + [2.0 ** e + np.arange(-3, 4)
                                                for e in range(10, bits + 2)])
    centers = np.concatenate([ks, ks + 0.5]).astype(dtype)
    centers = centers[np.isfinite(centers)]
    near = [centers]
    up, down = centers.copy(), centers.copy()
    for _ in range(3):
        up, down = np.nextafter(up, dtype.type(np.inf)), np.nextafter(down, dtype.type(-np.inf))
        near += [up, down]
    width = {2: np.uint16, 4: np.uint32}[dtype.itemsize]
    patterns = np.random.default_rng(0).integers(0, np.iinfo(width).max, 100_000,
                                                 dtype=width, endpoint=True).view(dtype)
    patterns = patterns[patterns != 0]  # -0.0: Sign gives 0, so +0.0 (numpy: -0.0)
    special = np.array([0.0, np.inf, -np.inf, np.nan, info.max, -info.max, info.tiny,
                        0.49999997, 0.5, min(2.0 ** 23 + 1, float(info.max))]).astype(dtype)
    values = np.concatenate(near)
    values = values[values != 0]
    return np.concatenate([values, -values, patterns, special]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_elemwise_round_exports_exactly(dtype: str) -> None:
    x = _hard_values(np.dtype(dtype))
    graph = Graph()
    graph.outputs = graph.add_op(Elemwise(mode="ROUND"), [graph.add_input("x", x.shape, dtype)])
    model = export_graph(graph, opset=13)
    assert [n.op_type for n in model.graph.node] == ROUND_OPS[dtype]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    want = load_backend("numpy").run(Elemwise(mode="ROUND"), [x])
    np.testing.assert_array_equal(got, want)
    numbers = ~np.isnan(want)  # (a NaN's sign bit is not compared)
    np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))


def test_qdq_lowering_quantizes_an_input_as_megengines_typecvt() -> None:
    """float -> qint8 -> float in the QDQ lowering: the home's rounding of ``x / scale``
    (its ops, once), then the pair; at every half of the grid and the floats beside it,
    the codes MegEngine's ``TypeCvt`` gives (the numpy kernels)."""
    from mge.dtype import dtype_spec, qint8
    from mge.ops.elemwise import TypeCvt
    from mge.runtime.executor import Executor
    from mge.runtime.int8_qdq import lower_to_qdq

    scale = np.float32(1 / 127.5)
    halves = (np.arange(-140, 140, dtype=np.float32) + np.float32(0.5)) * scale
    x = np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                        np.nextafter(halves, np.float32(-np.inf)), [0.0]]).astype(np.float32)
    graph = Graph()
    (q,) = graph.add_op(TypeCvt(dtype=dtype_spec(qint8(float(scale)))),
                        [graph.add_input("x", x.shape, "float32")])
    graph.outputs = graph.add_op(TypeCvt(dtype="float32"), [q])
    model = lower_to_qdq(graph, shift=False)
    ops = [n.op_type for n in model.graph.node]
    assert ops[:8] == ["Div", *ROUND_OPS["float32"], "Mul"]  # x / scale rounded, times scale
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"in0": x})
    (want,) = Executor(graph).run(x)
    np.testing.assert_array_equal(got, np.asarray(want))
