"""The ``openvino-int8`` plan backend: quantized graphs as QDQ models on OpenVINO's int8
kernels (skipped where OpenVINO is not installed: the CI legs have no ``openvino`` extra)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mge.lite as L
from mge.runtime.int8_onnx import Int8Unsupported
from mge.serialization.mge_graph import dump_graph, load_graph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"


def _lite(path: Path, backend: str, threads: int = 1) -> L.LiteNetwork:
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.threads_number = threads
    net.load(str(path))
    return net


def _forward(net: L.LiteNetwork, x: np.ndarray) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to other kernels
        net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(x)
        net.forward()
        net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()]


def _plan(graph: object, threads: int | None = None):  # noqa: ANN202
    from mge.runtime.plan import Plan, PlanOptions

    return Plan(graph, PlanOptions(backend="openvino-int8", threads=threads))


def test_int8_cnn_within_one_step_of_megengine_lite() -> None:
    """Every output of the int8 CNN fixture (MegEngine Lite's own outputs stored) within
    one of its quantization steps (OpenVINO requantizes with its own factors; equal on
    this fixture with OpenVINO 2026.4)."""
    pytest.importorskip("openvino")
    ref = dict(np.load(FIXTURES / "int8_cnn.npz"))
    outs = _forward(_lite(FIXTURES / "int8_cnn.mge", "openvino-int8"), ref["input"])
    for k, out in enumerate(outs):
        want = ref[f"lite/{k}"]
        step = np.unique(np.abs(want[want != 0])).min()
        assert np.abs(out - want).max() <= step * 1.0001, f"output {k}"


def test_convolutions_run_on_int8_kernels() -> None:
    """OpenVINO's executed graph runs every convolution (and the matmul) on u8/i8 data."""
    pytest.importorskip("openvino")
    from mge.runtime.plan_openvino_int8 import int8_layers

    plan = _plan(load_graph(FIXTURES / "int8_cnn.mge").graph)
    layers = int8_layers(plan._runner.compiled)
    convs = layers["Convolution"]
    assert convs and set(convs) <= {"u8", "i8"}, layers


def test_threads_honoured_one_compiled_model_per_plan() -> None:
    pytest.importorskip("openvino")
    graph = load_graph(FIXTURES / "int8_cnn.mge").graph
    plans = [_plan(graph, threads) for threads in (1, 2)]
    compiled = [p._runner.compiled for p in plans]
    assert [c.get_property("INFERENCE_NUM_THREADS") for c in compiled] == [1, 2]
    assert compiled[0] is not compiled[1]
    assert "float32" in str(compiled[0].get_property("INFERENCE_PRECISION_HINT"))


def test_new_input_shape_recompiles(tmp_path: Path) -> None:
    """A batch of another size is a new plan, so a new compiled model, with the same
    results per sample."""
    pytest.importorskip("openvino")
    from tests.runtime.test_int8_onnx import _relu6_graph

    (tmp_path / "relu6.mge").write_bytes(dump_graph(_relu6_graph())[0])
    net = _lite(tmp_path / "relu6.mge", "openvino-int8")
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 4)).astype("float32")
    four = _forward(net, x[:4])
    eight = _forward(net, x)
    for a, b in zip(four, eight, strict=True):
        np.testing.assert_array_equal(a, b[:4])
    numpy = _forward(_lite(tmp_path / "relu6.mge", "numpy"), x)
    for k, (got, want) in enumerate(zip(eight, numpy, strict=True)):
        assert np.abs(got - want).max() <= 0.1 * 1.0001, f"output {k}"  # one input step


def test_opt_in_only() -> None:
    """Never chosen by ``"auto"`` (not for quantized graphs either) nor listed unless named."""
    pytest.importorskip("openvino")
    from mge.runtime.plan import PlanOptions, available_plan_backends, plan_backend_class

    assert "openvino-int8" not in available_plan_backends()
    assert "openvino-int8" in available_plan_backends(PlanOptions(backend="openvino-int8"))
    assert plan_backend_class(PlanOptions(), quantized=True).name != "openvino-int8"
    reason = plan_backend_class(PlanOptions(backend="openvino-int8"), True).unavailable(
        PlanOptions(backend="openvino-int8", compute_dtype="bfloat16"))
    assert reason is not None and "float32" in reason


def test_refuses_an_op_it_cannot_map_naming_it() -> None:
    pytest.importorskip("openvino")
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.elemwise import TypeCvt
    from mge.ops.reduce import Reduce

    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.1))), [x])
    (y,) = g.add_op(Reduce(mode="PRODUCT", axis=0), [q])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [y])[0]]
    with pytest.raises(NotImplementedError, match="openvino-int8.*Reduce PRODUCT"):
        _plan(g)


def test_lowering_is_qdq_of_reals() -> None:
    """The lowered model: float ops between Q/DQ pairs, int8 filters dequantized, none of
    onnxruntime's ``QLinear*`` ops."""
    pytest.importorskip("onnx")
    from mge.runtime.int8_qdq import lower_to_qdq

    model = lower_to_qdq(load_graph(FIXTURES / "int8_cnn.mge").graph)
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "QuantizeLinear", "DequantizeLinear"} <= ops
    assert not any(op.startswith("QLinear") or op.endswith("Integer") for op in ops)
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    with pytest.raises(Int8Unsupported):
        from mge.graph.ir import Graph

        g = Graph()
        g.outputs = [g.add_input("x", (2,), "int16")]
        lower_to_qdq(g)


def test_grid_preserving_ops_add_no_quantization() -> None:
    """A ``QMIN`` at the top of int8 is dropped and same-scale ``QRELU``/``QMIN``/``QMAX``
    add no Q/DQ pair (their results are on their inputs' grid); the per-channel QMIN of
    the relu6 chain then runs as a plain ``Min``."""
    pytest.importorskip("onnx")
    import collections

    from mge.runtime.int8_qdq import lower_to_qdq
    from tests.runtime.test_int8_onnx import _relu6_graph

    ops = collections.Counter(n.op_type for n in lower_to_qdq(_relu6_graph()).graph.node)
    # the input's TypeCvt and the scale-changing QRELU quantize; the outputs leave as reals
    assert ops["QuantizeLinear"] == 2
    assert ops["Min"] == 2 and ops["Max"] == 1 and ops["Relu"] == 2


def test_residual_net_close_to_numpy_kernels(tmp_path: Path) -> None:
    """A PTQ'd residual block (ConvRelu, Conv, a quantized add+relu, average and max
    pooling, a quantized Linear) dumped by mge: whole on OpenVINO, within four steps of its
    output's scale of the exact numpy kernels. OpenVINO rounds between its Q/DQ pairs in
    float, and a pooled value one step off moves every output by |weight| x its scale: over
    16 seeded initializations the difference was 1 to 4 steps (seed 0: 4)."""
    pytest.importorskip("openvino")
    import mge
    import mge.functional as F
    import mge.module as M
    from tests.runtime.test_int8_onnx import _ptq_dump

    class Net(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = M.QuantStub(), M.DequantStub()
            self.conv1 = M.ConvRelu2d(3, 8, 3, padding=1)
            self.conv2 = M.Conv2d(8, 8, 3, padding=1)
            self.add = M.Elemwise("FUSE_ADD_RELU")
            self.max, self.avg = M.MaxPool2d(2), M.AvgPool2d(2)
            self.fc = M.Linear(8 * 2 * 2, 5)

        def forward(self, x: mge.Tensor) -> mge.Tensor:
            y = self.conv1(self.quant(x))
            y = self.avg(self.max(self.add(self.conv2(y), y)))
            return self.dequant(self.fc(F.flatten(y, 1)))

    mge.random.seed(0)
    x = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype("float32")
    q = _ptq_dump(Net(), x, tmp_path / "res.mge")
    got, want = (_forward(_lite(tmp_path / "res.mge", b), x)[0]
                 for b in ("openvino-int8", "numpy"))
    step = mge.dtype.get_scale(q.fc.output_dtype)
    assert np.abs(got - want).max() <= 4 * step * 1.0001


def test_same_scale_relu_after_conv_keeps_next_conv_int8(tmp_path: Path) -> None:
    """A conv read by a ``QRELU`` at its own scale (mge's MobileNetV2 PTQ dumps: the relu6's
    scale shared with its conv): the relu runs before the conv's quantization and nothing
    after it, so no float op sits between a ``DequantizeLinear`` and the next conv and
    OpenVINO runs both convolutions on u8 (a ``Relu`` after the pair left the next conv in
    float); outputs within one step of the exact numpy kernels."""
    pytest.importorskip("openvino")
    from mge.runtime.int8_qdq import lower_to_qdq
    from mge.runtime.plan_openvino_int8 import int8_layers
    from tests.runtime.test_int8_requant import S0, _graph

    graph = _graph(1.0)
    nodes = lower_to_qdq(graph).graph.node
    producer = {out: n.op_type for n in nodes for out in n.output}
    relus = [n for n in nodes if n.op_type == "Relu"]
    assert len(relus) == 1 and producer[relus[0].input[0]] == "Conv"
    layers = int8_layers(_plan(graph)._runner.compiled)
    assert layers["Convolution"] == {"u8": 2}, layers
    (tmp_path / "g.mge").write_bytes(dump_graph(graph)[0])
    x = np.random.default_rng(0).normal(size=(1, 4, 8, 8)).astype("float32")
    got, want = (_forward(_lite(tmp_path / "g.mge", b), x) for b in ("openvino-int8", "numpy"))
    for k, step in enumerate((S0, 0.09)):
        assert np.abs(got[k] - want[k]).max() <= step * 1.0001, f"output {k}"


@pytest.mark.parametrize("window", [2, 4])
def test_average_pooling_rounds_codes_as_megengine(window: int, tmp_path: Path) -> None:
    """Quantized average pooling of every int8 code, windows averaging to a tie
    (x.5): OpenVINO's codes equal the numpy kernels' (MegEngine rounds the codes' average
    half away from zero; a float average quantized rounded ties to even)."""
    pytest.importorskip("openvino")
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.elemwise import TypeCvt
    from mge.ops.pooling import PoolingForward

    scale = 0.1
    g = Graph()
    x = g.add_input("x", (1, 4, 16, 16), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(scale))), [x])
    (p,) = g.add_op(PoolingForward(mode="AVERAGE", window_h=window, window_w=window,
                                   stride_h=window, stride_w=window), [q])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [p])[0]]
    (tmp_path / "pool.mge").write_bytes(dump_graph(g)[0])
    rng = np.random.default_rng(0)
    codes = np.stack([rng.permutation(np.arange(-128, 128)) for _ in range(4)])
    codes = codes.reshape(1, 4, 16, 16)
    data = (codes * np.float32(scale)).astype(np.float32)
    sums = codes.reshape(4, 16 // window, window, 16 // window, window).sum(axis=(2, 4))
    assert (sums % (window * window) == window * window // 2).sum() >= 2  # ties
    got, want = (_forward(_lite(tmp_path / "pool.mge", b), data)[0]
                 for b in ("openvino-int8", "numpy"))
    np.testing.assert_array_equal(got, want)
