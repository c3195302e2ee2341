"""The ``onnxruntime-int8`` plan backend: quantized graphs on onnxruntime's integer kernels."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mge.lite as L
from mge.runtime.int8_onnx import Int8Unsupported, lower_to_onnx
from mge.serialization.mge_graph import load_graph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"


def _run(backend: str) -> tuple[list[np.ndarray], dict]:
    ref = dict(np.load(FIXTURES / "int8_cnn.npz"))
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.load(str(FIXTURES / "int8_cnn.mge"))
    net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(ref["input"])
    net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()], ref


def _run_file(path: Path, backend: str, x: np.ndarray) -> list[np.ndarray]:
    """All outputs of the ``.mge`` at ``path`` on ``backend``; any warning (a fallback to
    the numpy kernels) fails the test."""
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.load(str(path))
        net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(x)
        net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()]


def test_int8_cnn_on_onnxruntime_within_one_step() -> None:
    pytest.importorskip("onnxruntime")
    outs, ref = _run("onnxruntime-int8")
    for k, out in enumerate(outs):
        want = ref[f"lite/{k}"]
        levels = np.unique(np.abs(want[want != 0]))
        step = levels.min()
        assert np.abs(out - want).max() <= step * 1.0001, f"output {k}"


def test_lowering_uses_integer_kernels_on_uint8_activations() -> None:
    pytest.importorskip("onnx")
    model = lower_to_onnx(load_graph(FIXTURES / "int8_cnn.mge").graph)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    assert ops["QLinearConv"] == 3 and ops["MatMulInteger"] and ops["QuantizeLinear"]
    # no float Conv: the image's conv feeds a max pool (through the residual add), which
    # onnxruntime runs channels-last only after a QLinearConv (int8_codeconv); no MatMul
    assert ops["Conv"] == ops["MatMul"] == 0


def test_lowering_names_what_it_cannot_run() -> None:
    """A quantized op without a form (a float one takes its op home's rule, see
    ``test_int8_float.py``)."""
    pytest.importorskip("onnx")
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.elemwise import TypeCvt
    from mge.ops.reduce import Reduce

    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.1))), [x])
    (y,) = g.add_op(Reduce(mode="PRODUCT", axis=0), [q])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [y])[0]]
    with pytest.raises(Int8Unsupported, match="Reduce"):
        lower_to_onnx(g)


def _ptq_dump(net: Any, x: np.ndarray, path: Path) -> Any:
    """``net`` calibrated on ``x``, quantized, and dumped to ``path`` (input ``data``)."""
    import mge
    from mge.jit import trace
    from mge.quantization import calibration_qconfig, quantize, quantize_qat

    qat = quantize_qat(net, qconfig=calibration_qconfig)
    qat(mge.tensor(x))
    q = quantize(qat)
    q.eval()

    @trace(symbolic=True, capture_as_const=True)
    def fn(data: mge.Tensor) -> mge.Tensor:
        return q(data)

    fn(mge.tensor(x))
    fn.dump(str(path), arg_names=["data"])
    return q


def test_padding_and_float_tail_run_on_onnxruntime(tmp_path: Path) -> None:
    """A quantized net with an asymmetric pad (TFLite's SAME) and a float tail (mean, a
    float 1x1 conv classifier), as mge's MobileNetV2 PTQ dump has them: lowered whole
    (no numpy fallback), within one output step of the exact numpy plan."""
    pytest.importorskip("onnxruntime")
    import mge
    import mge.functional as F
    import mge.module as M

    class Net(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = M.QuantStub(), M.DequantStub()
            self.pad = M.Pad(((0, 0), (0, 0), (0, 1), (0, 1)))
            self.conv = M.ConvRelu2d(3, 8, 3, stride=2)
            self.head = M.Conv2d(8, 5, 1)
            self.head.disable_quantize()

        def forward(self, x: mge.Tensor) -> mge.Tensor:
            y = self.dequant(self.conv(self.pad(self.quant(x))))
            return F.flatten(self.head(F.mean(y, axis=(2, 3), keepdims=True)), 1)

    x = np.random.default_rng(0).normal(size=(2, 3, 9, 9)).astype("float32")
    q = _ptq_dump(Net(), x, tmp_path / "tail.mge")
    outs = {b: _run_file(tmp_path / "tail.mge", b, x)[0]
            for b in ("numpy", "onnxruntime-int8")}
    step = mge.dtype.get_scale(q.conv.output_dtype)
    head = np.abs(q.head.weight.numpy()).sum(axis=(1, 2, 3)).max()
    assert np.abs(outs["numpy"] - outs["onnxruntime-int8"]).max() <= step * head + 1e-5
    ops = [n.op_type for n in lower_to_onnx(load_graph(tmp_path / "tail.mge").graph).graph.node]
    # the spatial mean pair of dequantized codes: their integer sum over the NHWC transpose
    # (onnxruntime cancels it against the channels-last convs' own transpose), scaled once
    assert not {"GlobalAveragePool", "ReduceMean", "DequantizeLinear"} & set(ops)
    assert ops[ops.index("MatMulInteger") - 2:ops.index("MatMulInteger")] == \
        ["Transpose", "Reshape"]


def test_quantized_head_runs_on_integer_kernels(tmp_path: Path) -> None:
    """A net whose global average pool and 1x1 classifier are quantized too
    (``bench/int8_models.py``'s ``mobilenet_v2_qhead``): integer convolutions, the pool an
    exact average of the codes rounded as MegEngine rounds (half away from zero; a float
    average quantized by onnxruntime rounds ties to even and was two output steps off for
    10 of 24 seeds), within one output step of the exact numpy plan."""
    pytest.importorskip("onnxruntime")
    import mge
    import mge.functional as F
    import mge.module as M

    class Net(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = M.QuantStub(), M.DequantStub()
            self.conv = M.ConvRelu2d(3, 8, 3, stride=2)
            self.head = M.Conv2d(8, 5, 1)

        def forward(self, x: mge.Tensor) -> mge.Tensor:
            y = F.avg_pool2d(self.conv(self.quant(x)), 4)
            return F.flatten(self.dequant(self.head(y)), 1)

    mge.random.seed(0)
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 9)).astype("float32")
    q = _ptq_dump(Net(), x, tmp_path / "head.mge")
    outs = {b: _run_file(tmp_path / "head.mge", b, x)[0]
            for b in ("numpy", "onnxruntime-int8")}
    step = mge.dtype.get_scale(q.head.output_dtype)
    assert np.abs(outs["numpy"] - outs["onnxruntime-int8"]).max() <= step * 1.0001
    ops = collections.Counter(
        n.op_type for n in lower_to_onnx(load_graph(tmp_path / "head.mge").graph).graph.node)
    assert ops["QLinearConv"] == 2 and ops["DequantizeLinear"] == 1  # the output's
    assert ops["GlobalAveragePool"] == 1 and ops["Floor"] == 1
    assert not {"Gemm", "Conv", "ReduceMean"} & set(ops)


def _relu6_graph() -> Any:
    """Quantized chains of the clip-like ``ElemwiseMultiType`` modes, each one visible in
    an output: a ``QMIN`` at the top of int8, a ``QRELU`` that changes scale, a relu6's
    ``QMIN``, a ``QMAX`` with its constant first, a per-channel ``QMIN`` (the float form),
    and a same-scale ``QRELU``."""
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.elemwise import TypeCvt
    from mge.ops.quantized import ElemwiseMultiType

    g = Graph()
    x = g.add_input("x", (4, 4, 4, 4), "float32")
    s1, s2 = qint8(0.1), qint8(0.07)

    def multi(mode: str, dtype: np.dtype, *inputs: Any) -> Any:
        return g.add_op(ElemwiseMultiType(mode=mode, dtype=dtype_spec(dtype)), list(inputs))[0]

    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(s1)), [x])
    q = multi("QMIN", s1, q, g.add_const(np.array([127], s1)))
    relu = multi("QRELU", s2, q)
    m = multi("QMIN", s2, relu, g.add_const(np.array([40], s2)))
    m = multi("QMAX", s2, g.add_const(np.array([10], s2)), m)
    m = multi("QMIN", s2, m, g.add_const(np.array([5, 20, 60, 127], s2).reshape(1, 4, 1, 1)))
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [v])[0]
                 for v in (relu, m, multi("QRELU", s1, q))]
    return g


def test_relu6_lowers_to_integer_clips() -> None:
    """QRELU / QMIN / QMAX at one scale are ``Clip`` on the codes: no float ``Relu``,
    ``Min``, ``Max``; only the scale-changing QRELU and the per-channel QMIN dequantize."""
    pytest.importorskip("onnx")
    ops = collections.Counter(n.op_type for n in lower_to_onnx(_relu6_graph()).graph.node)
    assert ops["Clip"] == 3 and ops["QLinearLeakyRelu"] == 1 and ops["Min"] == 1
    assert ops["Relu"] == ops["Max"] == 0
    assert ops["DequantizeLinear"] == 2 + 3  # the per-channel min, the outputs


def test_relu6_clips_bit_exact_with_numpy_kernels(tmp_path: Path) -> None:
    """The integer clips and the requantizing relu's table give the numpy int8 kernels'
    codes bit for bit, on every int8 code (no rounding ties at these scales)."""
    pytest.importorskip("onnxruntime")
    from mge.serialization.mge_graph import dump_graph

    (tmp_path / "relu6.mge").write_bytes(dump_graph(_relu6_graph())[0])
    codes = np.random.default_rng(3).permutation(np.arange(-128, 128))
    x = (codes * np.float32(0.1)).astype("float32").reshape(4, 4, 4, 4)
    outs = {b: _run_file(tmp_path / "relu6.mge", b, x) for b in ("numpy", "onnxruntime-int8")}
    for k, (got, want) in enumerate(zip(outs["onnxruntime-int8"], outs["numpy"], strict=True)):
        assert len(np.unique(want)) > 10, f"output {k} kept no spread of codes"
        np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_requantizing_relu_table_matches_dequantize_relu_quantize(dtype: str) -> None:
    """``QLinearLeakyRelu`` at ``alpha=0`` (the scale-changing QRELU) gives what the float
    form DequantizeLinear -> Relu -> QuantizeLinear gives, on every code, for 200 random
    scale pairs and zero points (ratios from 1/8 to 8, as a conv's output requantized
    into a relu6's range)."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    elem = TensorProto.UINT8 if dtype == "uint8" else TensorProto.INT8
    names = ["x", "sx", "zx", "sy", "zy"]
    forms = {
        "table": [helper.make_node("QLinearLeakyRelu", names, ["y"], domain="com.microsoft",
                                   alpha=0.0)],
        "float": [helper.make_node("DequantizeLinear", names[:3], ["r"]),
                  helper.make_node("Relu", ["r"], ["p"]),
                  helper.make_node("QuantizeLinear", ["p", *names[3:]], ["y"])]}
    info = np.iinfo(dtype)
    x = np.arange(info.min, info.max + 1).astype(dtype)
    x = np.concatenate([x, x[::-1], x[:37]])  # vector lanes and tails alike
    rng = np.random.default_rng(0)
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    for _ in range(200):
        sx, sy = np.float32(rng.uniform(0.005, 0.5)), np.float32(rng.uniform(0.005, 0.5))
        sy = np.float32(np.clip(sy, sx / 8, sx * 8))
        zx, zy = (np.array(rng.integers(info.min, info.max + 1), dtype) for _ in range(2))
        inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [float(v)])
                 for n, v in (("sx", sx), ("sy", sy))]
        inits += [helper.make_tensor(n, elem, [], [int(v)]) for n, v in (("zx", zx), ("zy", zy))]
        got = {}
        for form, nodes in forms.items():
            g = helper.make_graph(nodes, form,
                                  [helper.make_tensor_value_info("x", elem, [len(x)])],
                                  [helper.make_tensor_value_info("y", elem, [len(x)])], inits)
            model = helper.make_model(g, opset_imports=opsets)
            model.ir_version = helper.find_min_ir_version_for(opsets[:1])
            sess = ort.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
            got[form] = sess.run(None, {"x": x})[0]
        np.testing.assert_array_equal(got["table"], got["float"],
                                      err_msg=f"scales {sx}, {sy}; zero points {zx}, {zy}")
