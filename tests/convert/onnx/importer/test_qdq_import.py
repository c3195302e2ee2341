"""QDQ models imported as MegEngine's quantized graph (``from_onnx(int8=True)``,
``onnx_to_mge --int8``): the patterns become quantized ConvBias / ElemwiseMultiType /
MatrixMul, the results stay within one output step of onnxruntime, an int8 ``.mge``
exported as QDQ comes back with its op list and its outputs bit for bit, and refused
patterns (uint8 activations, nonzero zero points, per-channel weights) stay emulated
with a reason naming the tensor."""

from __future__ import annotations

import collections
import io
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import mge  # noqa: E402
import mge.lite as L  # noqa: E402
from mge.convert import from_onnx, onnx_to_mge, to_onnx  # noqa: E402
from mge.convert.cli import main  # noqa: E402
from mge.convert.onnx.importer.mge_file import onnx_to_mge_bytes  # noqa: E402
from mge.serialization.mge_graph import load_graph  # noqa: E402
from tests.oracle import requires_oracle, run_in_megengine  # noqa: E402

OPSET = 13
RNG = np.random.default_rng(0)
# scales without common multiples: no ties, where ONNX and MegEngine round differently
S_IN, S_CONV, S_ADD, S_OUT = 0.0201, 0.0307, 0.0437, 0.0513


class _Builder:
    """Nodes and initializers of a hand-made QDQ graph."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def qdq(self, x: str, scale: float, zp: np.ndarray | None = None) -> str:
        """``x`` quantized at ``scale`` (int8, zero point 0 unless ``zp``) and back."""
        zp = np.int8(0) if zp is None else zp
        params = [self.const(f"{x}_s", np.float32(scale)), self.const(f"{x}_zp", zp)]
        q = self.node("QuantizeLinear", [x, *params], f"{x}_q")
        return self.node("DequantizeLinear", [q, *params], f"{x}_dq")

    def weight(self, name: str, codes: np.ndarray, scale: float | np.ndarray,
               axis: int | None = None) -> str:
        s = self.const(f"{name}_s", np.asarray(scale, np.float32))
        zp = self.const(f"{name}_zp", np.zeros(np.shape(scale), codes.dtype))
        attrs = {} if axis is None else {"axis": axis}
        return self.node("DequantizeLinear", [self.const(f"{name}_codes", codes), s, zp],
                         name, **attrs)

    def model(self, inputs: dict[str, tuple[int, ...]], output: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "qdq",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], self.inits)
        opsets = [helper.make_opsetid("", OPSET)]
        return helper.make_model(graph, opset_imports=opsets,
                                 ir_version=helper.find_min_ir_version_for(opsets))


def _conv_add_pool_gemm(per_channel: bool = False, act_zp: np.ndarray | None = None
                        ) -> onnx.ModelProto:
    """``x -> Q/DQ -> Conv+Relu -> Q/DQ -> Add(x) -> Q/DQ -> MaxPool -> Q/DQ -> Flatten ->
    Q/DQ -> Gemm -> Q/DQ``: every pattern the importer quantizes."""
    b = _Builder()
    x = b.qdq("x", S_IN, act_zp)
    w_scale = np.full(4, 0.01, np.float32) * [1, 2, 1, 2] if per_channel else 0.01
    w = b.weight("w", RNG.integers(-127, 128, (4, 4, 3, 3)).astype(np.int8), w_scale,
                 axis=0 if per_channel else None)
    bias = b.weight("b", RNG.integers(-500, 500, 4).astype(np.int32),
                    np.float32(S_IN) * np.asarray(w_scale, np.float32),
                    axis=0 if per_channel else None)
    conv = b.node("Conv", [x, w, bias], "conv", pads=[1, 1, 1, 1])
    y = b.qdq(b.node("Relu", [conv], "relu"), S_CONV)
    s = b.qdq(b.node("Add", [y, x], "add"), S_ADD)
    p = b.qdq(b.node("MaxPool", [s], "pool", kernel_shape=[2, 2], strides=[2, 2]), S_ADD)
    f = b.qdq(b.node("Flatten", [p], "flat"), S_ADD)
    fw = b.weight("fw", RNG.integers(-127, 128, (10, 36)).astype(np.int8), 0.01)
    fb = b.weight("fb", RNG.integers(-500, 500, 10).astype(np.int32),
                  np.float32(S_ADD) * np.float32(0.01))
    out = b.qdq(b.node("Gemm", [f, fw, fb], "gemm", transB=1), S_OUT)
    return b.model({"x": (2, 4, 6, 6)}, out)


def _x() -> np.ndarray:
    return RNG.uniform(-2, 2, (2, 4, 6, 6)).astype(np.float32)


def _onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _op_types(mge_bytes: bytes) -> collections.Counter:
    return collections.Counter(
        n.op.type_name for n in load_graph(io.BytesIO(mge_bytes)).graph.ops())


def _lite(path_or_bytes: str | bytes, x: np.ndarray, backend: str = "numpy") -> np.ndarray:
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    if isinstance(path_or_bytes, bytes):
        net.load(io.BytesIO(path_or_bytes))
    else:
        net.load(path_or_bytes)
    net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(x)
    net.forward()
    net.wait()
    return net.get_io_tensor(net.get_all_output_name()[0]).to_numpy().copy()


def test_patterns_become_a_quantized_graph_within_one_step_of_onnxruntime() -> None:
    model, x = _conv_add_pool_gemm(), _x()
    net = from_onnx(model, trace=False, int8=True)
    assert net.int8_summary == ("quantized: 1 Flatten, 1 MaxPool, 1 QdqAdd, 1 QdqConvBias, "
                                "1 QdqDequantize, 1 QdqLinear, 1 QdqQuantize")
    got = net(mge.tensor(x)).numpy()
    want = _onnxruntime(model, x)
    assert np.abs(got - want).max() <= S_OUT * 1.001
    ops = _op_types(onnx_to_mge_bytes(model, int8=True))
    assert ops["ConvBiasForward"] == 1 and ops["ElemwiseMultiType"] == 1
    assert ops["MatrixMul"] == 1 and ops["PoolingForward"] == 1
    assert ops["TypeCvt"] >= 2 and "ConvolutionForward" not in ops
    # the default import emulates ONNX's arithmetic in float/int ops instead
    default = _op_types(onnx_to_mge_bytes(model))
    assert "ConvBiasForward" not in default and "ElemwiseMultiType" not in default


def test_dumped_int8_file_runs_on_mge_lite_as_the_module() -> None:
    model, x = _conv_add_pool_gemm(), _x()
    eager = from_onnx(model, trace=False, int8=True)(mge.tensor(x)).numpy()
    np.testing.assert_array_equal(_lite(onnx_to_mge_bytes(model, int8=True), x), eager)


@pytest.mark.parametrize("case, reason", [
    ("uint8", "tensor 'x_q' (QuantizeLinear 'x_q'): uint8 with zero point 128"),
    ("zero_point", "int8 with zero point [3]"),
    ("per_channel", "weight 'w': per-channel scales"),
])
def test_refused_patterns_stay_emulated_and_say_why(case: str, reason: str) -> None:
    model = _conv_add_pool_gemm(
        per_channel=case == "per_channel",
        act_zp={"uint8": np.uint8(128), "zero_point": np.int8(3)}.get(case))
    x = _x()
    net = from_onnx(model, trace=False, int8=True)
    assert reason in net.int8_summary
    assert "kept emulated" in net.int8_summary
    got = net(mge.tensor(x)).numpy()
    assert np.abs(got - _onnxruntime(model, x)).max() <= S_OUT * 1.001


def test_cli_int8_flag(tmp_path, capsys) -> None:  # noqa: ANN001
    src = tmp_path / "m.onnx"
    onnx.save(_conv_add_pool_gemm(), str(src))
    assert main(["onnx_to_mge", "-i", str(src), "-o", str(tmp_path / "m.mge"), "--int8"]) == 0
    assert "int8 import: quantized: 1 Flatten, 1 MaxPool, 1 QdqAdd, 1 QdqConvBias" in \
        capsys.readouterr().out
    assert _op_types((tmp_path / "m.mge").read_bytes())["ConvBiasForward"] == 1


class _PoolLinearNet(mge.module.Module):
    """Conv-BN-ReLU, a global average pool, flatten and a linear layer between stubs."""

    def __init__(self) -> None:
        import mge.module as M

        super().__init__()
        self.q, self.dq = M.QuantStub(), M.DequantStub()
        self.c1 = M.ConvBnRelu2d(3, 8, 3, padding=1)
        self.fc = M.Linear(8, 5)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = mge.functional.avg_pool2d(self.c1(self.q(x)), 8)
        return self.dq(self.fc(mge.functional.flatten(y, 1)))




def _int8_dump(net: mge.module.Module, x: np.ndarray, path: str) -> None:
    from mge import jit

    @jit.trace(symbolic=True, capture_as_const=True)
    def run(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    run(mge.tensor(x))
    run.dump(path, arg_names=["data"])


#: ops of a MegEngine flatten's run-time shape (``GetVarShape`` ... ``Reshape(1, -1)``):
#: an ONNX export has the static shape, imported as one ``Reshape``
_SHAPE_CHAIN = {"GetVarShape", "Subtensor", "AxisAddRemove", "Concat"}


#: real MegEngine 1.13's int8 dump of a small CNN (conv, residual add, max pool, linear)
MEGENGINE_INT8 = Path(__file__).parents[3] / "fixtures" / "int8" / "int8_cnn.mge"


@pytest.mark.parametrize("which", ["conv_bn_relu", "pool_linear", "megengine_dump"])
def test_int8_mge_round_trips_through_qdq_onnx(tmp_path, which: str) -> None:  # noqa: ANN001
    from tests.quantization.conv_bn_relu_net import calibrated_int8, quantized_conv_bn_relu_net

    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    path = str(tmp_path / "int8.mge")
    if which == "megengine_dump":
        path, x = str(MEGENGINE_INT8), x[:1]
    else:
        net = quantized_conv_bn_relu_net(x) if which == "conv_bn_relu" else \
            calibrated_int8(_PoolLinearNet(), x)
        _int8_dump(net, x, path)
    to_onnx(path, str(tmp_path / "int8.onnx"))
    summary = onnx_to_mge(str(tmp_path / "int8.onnx"), str(tmp_path / "back.mge"), int8=True)
    assert "kept emulated" not in summary

    def ops(p: str) -> list[str]:
        return ["Reshape" if n.op.type_name == "Reshape" else str(n.op)
                for n in load_graph(p).graph.ops()
                if n.op.type_name not in {"ImmutableTensor", *_SHAPE_CHAIN}]

    assert ops(str(tmp_path / "back.mge")) == ops(path)
    np.testing.assert_array_equal(_lite(str(tmp_path / "back.mge"), x), _lite(path, x))


def _sign_rounding(path: str) -> None:
    """Rewrite the QDQ ONNX file ``path`` as mge wrote it before 2026-12: the rounding's
    sign factor ``Sign(t)``, not ``Where(Less(t, 0), -1, 1)``."""
    model = onnx.load(path)
    nodes = list(model.graph.node)
    made = {o: n for n in nodes for o in n.output}
    wheres = [n for n in nodes if n.op_type == "Where" and made[n.input[0]].op_type == "Less"]
    for where in wheres:
        less = made[where.input[0]]
        nodes[nodes.index(where)] = helper.make_node("Sign", [less.input[0]], where.output)
        nodes.remove(less)
    assert wheres
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, path)


def test_int8_qdq_files_of_the_older_rounding_still_import(tmp_path) -> None:  # noqa: ANN001
    """A QDQ file whose MegEngine rounding has the older ``Sign`` factor imports as
    the same quantized graph as today's form."""
    from tests.quantization.conv_bn_relu_net import quantized_conv_bn_relu_net

    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    path = str(tmp_path / "int8.mge")
    _int8_dump(quantized_conv_bn_relu_net(x), x, path)
    graphs = []
    for older in (False, True):
        exported = str(tmp_path / f"int8_{older}.onnx")
        to_onnx(path, exported)
        if older:
            _sign_rounding(exported)
        back = str(tmp_path / f"back_{older}.mge")
        onnx_to_mge(exported, back, int8=True)
        graphs.append([str(n.op) for n in load_graph(back).graph.ops()])
    assert graphs[0] == graphs[1]
    assert any("QuantizedS8" in op for op in graphs[1])


@requires_oracle
def test_imported_int8_file_runs_in_megengine_lite(tmp_path) -> None:  # noqa: ANN001
    model, x = _conv_add_pool_gemm(), _x()
    path = tmp_path / "m.mge"
    path.write_bytes(onnx_to_mge_bytes(model, int8=True))
    got = next(iter(run_in_megengine(path, {"x": x}).values()))
    np.testing.assert_array_equal(got.reshape(-1), _lite(str(path), x).reshape(-1))


def _single(case: str) -> tuple[onnx.ModelProto, tuple[int, ...]]:
    """``x -> Q/DQ -> <one op> -> Q/DQ`` for the patterns of one op."""
    b = _Builder()
    x = b.qdq("x", S_IN)
    if case == "relu":
        y = b.node("Relu", [x], "y")
    elif case in ("matmul", "matmul_relu"):
        w = b.weight("w", RNG.integers(-127, 128, (6, 3)).astype(np.int8), 0.01)
        y = b.node("MatMul", [x, w], "y")
        if case == "matmul_relu":
            y = b.node("Relu", [y], "y_relu")
    elif case == "transpose":
        y = b.node("Transpose", [x], "y", perm=[1, 0])
    else:  # concat: no quantized form in MegEngine (its quantized Concat is float too)
        y = b.node("Concat", [x, x], "y", axis=1)  # nothing quantized: all emulated
    return b.model({"x": (4, 6)}, b.qdq(y, S_OUT if "matmul" in case else S_IN)), (4, 6)


@pytest.mark.parametrize("case, ops", [
    ("relu", {"ElemwiseMultiType": 1, "TypeCvt": 2}),
    ("matmul", {"MatrixMul": 1, "TypeCvt": 3}),
    ("matmul_relu", {"MatrixMul": 1, "TypeCvt": 3, "Elemwise": 1}),
    ("transpose", {"Dimshuffle": 1, "TypeCvt": 2}),
    ("concat", {"Concat": 1, "ElemwiseMultiType": 0}),
])
def test_single_op_patterns(case: str, ops: dict[str, int]) -> None:
    model, shape = _single(case)
    x = RNG.uniform(-2, 2, shape).astype(np.float32)
    got_ops = _op_types(onnx_to_mge_bytes(model, int8=True))
    assert {k: got_ops[k] for k in ops} == ops, got_ops
    net = from_onnx(model, trace=False, int8=True)
    got = net(mge.tensor(x)).numpy()
    if case == "concat":  # Q/DQ pairs around no quantized op keep ONNX's rounding
        assert net.int8_summary == "quantized: none"
        np.testing.assert_array_equal(got, _onnxruntime(model, x))
        return
    step = S_OUT if "matmul" in case else S_IN
    assert np.abs(got - _onnxruntime(model, x)).max() <= step * 1.001


def _float_block() -> onnx.ModelProto:
    """A float MobileNetV2-like block: Conv + Clip(0, 6), depthwise Conv + Clip, projection
    Conv, residual Add, GlobalAveragePool, Reshape."""
    b = _Builder()
    w = [RNG.normal(0, 0.3, s).astype(np.float32) for s in ((8, 8, 1, 1), (8, 1, 3, 3),
                                                              (8, 8, 1, 1))]
    six, zero = b.const("six", np.float32(6)), b.const("zero", np.float32(0))
    h = b.node("Clip", [b.node("Conv", ["x", b.const("w0", w[0]),
                                        b.const("b0", np.full(8, 0.1, np.float32))], "c0"),
                        zero, six], "r0")
    h = b.node("Clip", [b.node("Conv", [h, b.const("w1", w[1])], "c1", group=8,
                                pads=[0, 0, 1, 1], strides=[2, 2]), zero, six], "r1")
    h = b.node("Conv", [h, b.const("w2", w[2])], "c2")
    h = b.node("Add", [h, b.node("MaxPool", ["x"], "mp", kernel_shape=[2, 2],
                                 strides=[2, 2])], "add")
    h = b.node("GlobalAveragePool", [h], "gap")
    b.node("Reshape", [h, b.const("shape", np.array([-1, 8], np.int64))], "y")
    return b.model({"x": (1, 8, 8, 8)}, "y")


def test_onnxruntime_quantize_static_model(tmp_path) -> None:  # noqa: ANN001
    """onnxruntime's own QDQ form (symmetric int8 activations): every conv becomes a
    quantized ConvBias (its relu6 clip a RELU: the quantization saturates below 6)."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    onnx.save(_float_block(), str(tmp_path / "f.onnx"))
    data = [{"x": RNG.uniform(-1, 1, (1, 8, 8, 8)).astype(np.float32)} for _ in range(4)]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(data)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    quantization.quantize_static(
        str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8,
        weight_type=quantization.QuantType.QInt8,
        extra_options={"ActivationSymmetric": True})
    model = onnx.load(str(tmp_path / "q.onnx"))
    net = from_onnx(model, trace=False, int8=True)
    assert "3 QdqConvBias" in net.int8_summary and "kept emulated" not in net.int8_summary
    ops = _op_types(onnx_to_mge_bytes(model, int8=True))
    assert ops["ConvBiasForward"] == 3 and ops["ElemwiseMultiType"] == 1
    assert "Elemwise" not in ops  # no float emulation left
    x = data[0]["x"]
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    step = next(numpy_helper.to_array(t) for t in model.graph.initializer
                if t.name == next(n for n in model.graph.node
                                  if n.output[0] == "y").input[1])
    got = net(mge.tensor(x)).numpy()
    assert np.abs(got - want).max() <= float(step) * 1.001


def test_opset_21_output_dtype_makes_int8_without_a_zero_point() -> None:
    from mge.convert.onnx.importer.qdq_graph import rewrite_qdq

    s = numpy_helper.from_array(np.float32(S_IN), "s")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["xq"], output_dtype=3),
             helper.make_node("DequantizeLinear", ["xq", "s"], ["xr"]),
             helper.make_node("Relu", ["xr"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "s"], ["rq"], output_dtype=3),
             helper.make_node("DequantizeLinear", ["rq", "s"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [s])
    opsets = [helper.make_opsetid("", 21)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    assert str(rewrite_qdq(model)[1]) == \
        "quantized: 1 QdqDequantize, 1 QdqQuantize, 1 QdqRelu"


def test_a_1d_convolution_stays_emulated() -> None:
    b = _Builder()
    x = b.qdq("x", S_IN)
    w = b.weight("w", RNG.integers(-127, 128, (4, 4, 3)).astype(np.int8), 0.01)
    y = b.qdq(b.node("Conv", [x, w], "conv", pads=[1, 1]), S_CONV)
    model = b.model({"x": (1, 4, 6)}, y)
    v = RNG.uniform(-2, 2, (1, 4, 6)).astype(np.float32)
    net = from_onnx(model, trace=False, int8=True)
    assert "Conv 'conv': a 1-d convolution" in net.int8_summary
    np.testing.assert_array_equal(net(mge.tensor(v)).numpy(), from_onnx(model, trace=False)(
        mge.tensor(v)).numpy())


def _rounded_matmul(round_scale: float) -> onnx.ModelProto:
    """``x -> Q/DQ -> MatMul -> MegEngine's rounding at round_scale -> Q/DQ at S_OUT``
    (``mge_to_onnx``'s requantizing ``TypeCvt`` as written before 2026-12: ``Div, Abs,
    Add, Floor, Sign, Mul, Mul``)."""
    b = _Builder()
    w = b.weight("w", RNG.integers(-127, 128, (6, 3)).astype(np.int8), 0.01)
    y = b.node("MatMul", [b.qdq("x", S_IN), w], "y")
    s = b.const("round_s", np.float32(round_scale))
    t = b.node("Div", [y, s], "t")
    half = b.const("half", np.nextafter(np.float32(0.5), np.float32(0)))
    floor = b.node("Floor", [b.node("Add", [b.node("Abs", [t], "abs"), half], "add")], "fl")
    codes = b.node("Mul", [floor, b.node("Sign", [t], "sign")], "codes")
    return b.model({"x": (4, 6)}, b.qdq(b.node("Mul", [codes, s], "r"), S_OUT))


def test_megengine_rounding_before_the_quantization_is_the_ops_own() -> None:
    """The rounding chain ``mge_to_onnx`` writes for a requantizing ``TypeCvt`` is the
    quantized op's (MegEngine's ``TypeCvt`` rounds so): one quantized MatrixMul, no
    float op left; at another scale than its ``QuantizeLinear``'s it stays emulated."""
    x = RNG.uniform(-2, 2, (4, 6)).astype(np.float32)
    model = _rounded_matmul(S_OUT)
    net = from_onnx(model, trace=False, int8=True)
    assert net.int8_summary == "quantized: 1 QdqDequantize, 1 QdqLinear, 1 QdqQuantize"
    ops = _op_types(onnx_to_mge_bytes(model, int8=True))
    assert ops["MatrixMul"] == 1 and "Elemwise" not in ops, ops
    assert np.abs(net(mge.tensor(x)).numpy() - _onnxruntime(model, x)).max() <= \
        S_OUT * 1.001
    other = from_onnx(_rounded_matmul(S_ADD), trace=False, int8=True)
    assert f"rounded to the codes of scale {np.float32(S_ADD)}, quantized at" in \
        other.int8_summary
