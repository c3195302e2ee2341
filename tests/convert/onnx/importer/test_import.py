"""ONNX import: real pretrained models against stored references, and one small graph per
supported op against onnxruntime, on every backend."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mge
from mge.backends import available_backends
from mge.convert import OnnxModule, UnsupportedOnnxError, from_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

MODELS_DIR = Path(__file__).resolve().parents[4] / ".." / "shared" / "models"
BACKENDS = available_backends()
CAT_CLASSES = set(range(282, 287))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Any:
    previous = mge.get_default_backend()
    mge.set_default_backend(request.param)
    yield request.param
    mge.set_default_backend(previous)


# ---------------------------------------------------------------- real models
MODELS = {
    "mobilenet_v1_0.25_128": 128,
    "mobilenet_v2_1.0_224_dq": 224,
    "mobilenet_v3_small_1.0_224_dq": 224,
}
_imported: dict[str, OnnxModule] = {}


def _model(name: str) -> OnnxModule:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    if name not in _imported:
        _imported[name] = from_onnx(MODELS_DIR / f"{name}.onnx", trace=False)
    return _imported[name]


@pytest.mark.parametrize("image", ["chelsea", "cat"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_pretrained_model_matches_reference(name: str, image: str, backend: str) -> None:
    net = _model(name)
    ref = MODELS_DIR / "reference"
    x = np.load(ref / f"{image}_{MODELS[name]}.npy")
    probs, logits = net(mge.tensor(x))
    logits, probs = logits.numpy(), probs.numpy()
    want_logits = np.load(ref / f"{name}__{image}_logits.npy")
    want_probs = np.load(ref / f"{name}__{image}_probs.npy")
    assert logits.shape == want_logits.shape == (1, 1001)
    np.testing.assert_allclose(logits, want_logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(probs, want_probs, rtol=0, atol=1e-5)
    top5, want_top5 = np.argsort(-logits[0])[:5], np.argsort(-want_logits[0])[:5]
    if name.startswith("mobilenet_v1"):  # adjacent logits 0.002 apart: compare as a set
        assert set(top5) == set(want_top5)
    else:
        assert top5.tolist() == want_top5.tolist()
    assert int(top5[0]) in CAT_CLASSES


def test_pretrained_model_structure() -> None:
    net = _model("mobilenet_v2_1.0_224_dq")
    assert net.input_names == ("input",)
    assert net.output_names == ("probs", "logits")
    params = dict(net.named_parameters())
    assert params["W_1"].shape == (32, 3, 3, 3)
    depthwise = [p for p in params.values() if p.ndim == 5]
    assert len(depthwise) == 17 and all(p.shape[1:3] == (1, 1) for p in depthwise)
    assert all(isinstance(p, mge.Parameter) for p in params.values())
    assert not any(k.startswith("relu6") for k, _ in net.named_buffers())  # folded to relu6


# ---------------------------------------------------------------- one op at a time
@dataclasses.dataclass
class Case:
    id: str
    nodes: list[Any]
    inputs: dict[str, np.ndarray]
    outputs: list[str]
    inits: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    opset: int = 13


def _rand(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(low, high, shape).astype(np.float32)


def _i64(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _f32(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(() if len(values) == 1 else -1)


def one(op: str, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray] | None = None,
        order: list[str] | None = None, n_out: int = 1, opset: int = 13, id: str = "",
        **attrs: Any) -> Case:
    """A graph of one ``op`` node reading ``order`` (default: inputs then initializers)."""
    inits = inits or {}
    names = order if order is not None else [*inputs, *inits]
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, name=f"{op.lower()}_node", **attrs)
    return Case(id or op, [node], inputs, outs, inits, opset)


def _model_proto(case: Case) -> Any:
    graph = helper.make_graph(
        case.nodes, case.id,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in case.inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in case.outputs],
        [onnx.numpy_helper.from_array(v, k) for k, v in case.inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case.opset)])
    model.ir_version = 8
    return model


X4 = _rand(2, 4, 7, 9)
W_CONV = _rand(6, 4, 3, 3, seed=1)
B6 = _rand(6, seed=2)
C4 = _rand(1, 4, 1, 1, seed=3)


def _conv_cases() -> list[Case]:
    x = {"x": X4}
    return [
        one("Conv", x, {"w": W_CONV, "b": B6}, kernel_shape=[3, 3], pads=[1, 1, 1, 1],
            id="Conv-pad1"),
        one("Conv", x, {"w": W_CONV}, strides=[2, 2], pads=[0, 0, 1, 1], id="Conv-asym-s2"),
        one("Conv", x, {"w": _rand(4, 1, 5, 5), "b": _rand(4)}, group=4, strides=[2, 2],
            pads=[1, 1, 2, 2], id="Conv-depthwise-5x5"),
        one("Conv", x, {"w": _rand(6, 2, 3, 3)}, group=2, dilations=[2, 2], id="Conv-group2-dil"),
        one("Conv", x, {"w": W_CONV, "b": B6}, strides=[2, 2], auto_pad="SAME_UPPER",
            id="Conv-same-upper"),
        one("Conv", x, {"w": W_CONV}, strides=[2, 1], auto_pad="SAME_LOWER", id="Conv-same-lower"),
        one("ConvTranspose", x, {"w": _rand(4, 3, 3, 3), "b": _rand(3)}, strides=[2, 2],
            pads=[1, 1, 1, 1], id="ConvTranspose-s2"),
        one("ConvTranspose", x, {"w": _rand(4, 2, 3, 2)}, group=2, strides=[2, 3],
            pads=[0, 1, 2, 0], output_padding=[1, 2], dilations=[2, 1],
            id="ConvTranspose-group-asym-outpad"),
        one("ConvTranspose", x, {"w": _rand(4, 3, 4, 4)}, strides=[2, 2], output_shape=[15, 18],
            id="ConvTranspose-output-shape"),
        one("ConvTranspose", x, {"w": _rand(4, 3, 3, 3)}, strides=[2, 2], auto_pad="SAME_UPPER",
            id="ConvTranspose-same-upper"),
    ]


def _elementwise_cases() -> list[Case]:
    x = {"x": X4}
    cases = [one("HardSwish", x, opset=14)]
    cases += [one(op, x) for op in (
        "Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Floor", "Ceil", "Erf",
        "Softplus", "Identity", "Dropout")]
    pos = {"x": _rand(2, 3, 4, low=0.1, high=3.0)}
    cases += [one(op, pos) for op in ("Log", "Sqrt")]
    cases += [
        one("HardSigmoid", x), one("HardSigmoid", x, alpha=1 / 6, beta=0.5, id="HardSigmoid-h"),
        one("LeakyRelu", x, alpha=0.2),
        one("PRelu", x, {"slope": _rand(4, 1, 1)}),
        one("Clip", x, {"lo": _f32(0.0), "hi": _f32(6.0)}, id="Clip-relu6"),
        one("Clip", x, {"lo": _f32(-0.5), "hi": _f32(1.5)}, id="Clip-both"),
        one("Clip", x, {"lo": _f32(0.0)}, id="Clip-relu"),
        one("Clip", x, {"hi": _f32(0.3)}, order=["x", "", "hi"], id="Clip-max-only"),
        one("Clip", x, min=-1.0, max=0.5, opset=6, id="Clip-opset6"),
        one("Cast", {"x": X4}, to=TensorProto.INT32),
    ]
    for op in ("Add", "Sub", "Mul", "Div"):
        cases.append(one(op, {"x": X4, "c": C4}, id=f"{op}-broadcast"))
        cases.append(one(op, x, {"s": _f32(0.75)}, id=f"{op}-scalar-const"))
    cases.append(one("Pow", {"x": pos["x"]}, {"p": _f32(1.5)}))
    for op in ("Sum", "Max", "Min"):
        cases.append(one(op, {"a": X4, "b": C4, "c": _rand(7, 9)}, id=f"{op}-variadic"))
    return cases


def _pool_cases() -> list[Case]:
    x = {"x": _rand(2, 3, 9, 10)}
    cases = []
    for op in ("MaxPool", "AveragePool"):
        cases += [
            one(op, x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], id=f"{op}-sym"),
            one(op, x, kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], id=f"{op}-asym"),
            one(op, x, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, id=f"{op}-ceil"),
            one(op, x, kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1], ceil_mode=1,
                id=f"{op}-asym-ceil"),
            one(op, x, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER",
                id=f"{op}-same"),
        ]
    for pads, ceil in (([1, 1, 1, 1], 0), ([0, 1, 2, 1], 0), ([1, 1, 1, 1], 1)):
        cases.append(one("AveragePool", x, kernel_shape=[3, 3], strides=[2, 2], pads=pads,
                         ceil_mode=ceil, count_include_pad=1,
                         id=f"AveragePool-incl-{''.join(map(str, pads))}-{ceil}"))
    cases += [one("GlobalAveragePool", x), one("GlobalMaxPool", x)]
    return cases


def _nn_cases() -> list[Case]:
    x = {"x": X4}
    bn = {"s": _rand(4, seed=5), "bb": _rand(4, seed=6), "m": _rand(4, seed=7),
          "v": _rand(4, seed=8, low=0.5, high=2.0)}
    a, b = _rand(5, 6), _rand(6, 3, seed=9)
    return [
        one("BatchNormalization", x, bn, epsilon=1e-3),
        one("BatchNormalization", {"x": _rand(3, 4)}, bn, id="BatchNormalization-2d"),
        one("Gemm", {"a": a}, {"w": _rand(3, 6), "c": _rand(3)}, transB=1, id="Gemm-linear"),
        one("Gemm", {"a": a.T.copy()}, {"w": b, "c": _rand(5, 3)}, transA=1, alpha=0.5,
            beta=2.0, id="Gemm-transA-alpha-beta"),
        one("Gemm", {"a": a, "b": b, "c": _rand(1, 3)}, alpha=1.5, beta=0.5, id="Gemm-runtime"),
        one("MatMul", {"a": a}, {"b": b}, id="MatMul-weight"),
        one("MatMul", {"a": _rand(2, 5, 6), "b": _rand(2, 6, 3)}, id="MatMul-batched"),
        one("Softmax", {"x": _rand(2, 3, 5)}),
        one("Softmax", {"x": _rand(2, 3, 5)}, axis=1, id="Softmax-axis1"),
        one("Softmax", {"x": _rand(2, 3, 5)}, axis=1, opset=11, id="Softmax-opset11-2d"),
        one("LogSoftmax", {"x": _rand(2, 3, 5)}),
    ]


def _resize_cases() -> list[Case]:
    x = {"x": _rand(1, 2, 4, 5)}
    roi = _f32()
    s2 = _f32(1, 1, 2, 2)
    cases = [
        one("Resize", x, {"r": roi, "s": s2}, mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor", id="Resize-nn-2x"),
        one("Resize", x, {"r": roi, "s": s2}, mode="nearest", id="Resize-nn-halfpixel-2x"),
        one("Resize", x, {"r": roi, "s": s2}, mode="linear", id="Resize-linear-2x"),
        one("Resize", x, {"r": roi, "s": _f32(1, 1, 0.5, 0.6)}, mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel", id="Resize-linear-down"),
        one("Resize", x, {"r": roi, "s": s2}, mode="linear",
            coordinate_transformation_mode="align_corners", id="Resize-linear-align"),
        one("Resize", x, {"r": roi, "s": s2}, mode="cubic", id="Resize-cubic"),
        one("Resize", {"x": _rand(1, 2, 4, 5)}, {"s": s2}, opset=10, id="Resize-opset10"),
    ]
    sizes = one("Resize", x, {"sz": _i64(1, 2, 7, 3)}, order=["x", "", "", "sz"],
                mode="linear", id="Resize-linear-sizes")
    return [*cases, sizes]


def _shape_cases() -> list[Case]:
    x = {"x": X4}
    big = np.iinfo(np.int64).max
    return [
        one("Reshape", x, {"s": _i64(0, -1, 9)}),
        one("Flatten", x), one("Flatten", x, axis=0, id="Flatten-0"),
        one("Flatten", x, axis=3, id="Flatten-3"),
        one("Transpose", x, perm=[0, 2, 3, 1]), one("Transpose", {"x": _rand(2, 3, 4)},
                                                    id="Transpose-default"),
        one("Concat", {"a": X4, "b": _rand(2, 1, 7, 9)}, {"c": _rand(2, 2, 7, 9)}, axis=1),
        one("Concat", {"a": X4, "b": _rand(2, 4, 7, 2)}, axis=-1, id="Concat-neg-axis"),
        one("Split", x, axis=1, n_out=2, id="Split-equal"),
        one("Split", x, {"sp": _i64(1, 3)}, axis=1, n_out=2, id="Split-sizes"),
        one("Split", x, split=[2, 5], axis=2, n_out=2, opset=11, id="Split-opset11"),
        one("Split", x, axis=3, n_out=2, num_outputs=2, opset=18, id="Split-num-outputs"),
        one("Slice", x, {"st": _i64(1, -1), "en": _i64(big, 0), "ax": _i64(2, 3),
                         "sp": _i64(2, -2)}),
        one("Slice", x, {"st": _i64(0, 1), "en": _i64(1, 3)}, id="Slice-default-axes"),
        one("Slice", x, starts=[1], ends=[-1], axes=[1], opset=9, id="Slice-opset9"),
        one("Pad", x, {"p": _i64(0, 0, 1, 2, 0, 1, 0, 3), "v": _f32(1.5)}, id="Pad-constant"),
        one("Pad", x, {"p": _i64(0, 0, 2, 1, 0, 0, 1, 2)}, mode="reflect", id="Pad-reflect"),
        one("Pad", x, {"p": _i64(0, 0, 2, 1, 0, 0, 1, 2)}, mode="edge", id="Pad-edge"),
        one("Pad", x, pads=[0, 1, 1, 0, 0, 0, 1, 1], opset=10, id="Pad-opset10"),
        one("ReduceMean", x, axes=[2, 3]), one("ReduceMean", x, axes=[-1], keepdims=0,
                                               id="ReduceMean-nokeep"),
        one("ReduceMean", x, id="ReduceMean-all"),
        one("ReduceSum", x, {"ax": _i64(1)}, keepdims=0, id="ReduceSum-input-axes"),
        one("ReduceMax", x, axes=[1]), one("ReduceMin", x, axes=[0, 2]),
        one("Unsqueeze", {"x": _rand(3, 4)}, {"ax": _i64(0, -1)}),
        one("Unsqueeze", {"x": _rand(3, 4)}, axes=[1], opset=11, id="Unsqueeze-opset11"),
        one("Squeeze", {"x": _rand(3, 1, 4, 1)}, {"ax": _i64(1)}),
        one("Squeeze", {"x": _rand(3, 1, 4, 1)}, id="Squeeze-all"),
        one("Expand", {"x": _rand(3, 1)}, {"s": _i64(2, 3, 4)}),
        one("Tile", {"x": _rand(2, 3)}, {"r": _i64(2, 1)}),
        one("Gather", x, {"i": np.asarray(2, np.int64)}, axis=1, id="Gather-scalar"),
        one("Gather", x, {"i": _i64(0, -1, 3)}, axis=3, id="Gather-list"),
    ]


def _folded_shape_case() -> Case:
    """The exporter pattern ``x.view(x.size(0), -1)``: Shape/Gather/Unsqueeze/Concat."""
    mk = helper.make_node
    nodes = [
        mk("Shape", ["x"], ["shape"]),
        mk("Constant", [], ["zero"], value=onnx.numpy_helper.from_array(np.asarray(0, np.int64))),
        mk("Gather", ["shape", "zero"], ["n"], axis=0),
        mk("Unsqueeze", ["n", "axes"], ["n1"]),
        mk("Constant", [], ["minus1"], value_ints=[-1]),
        mk("Concat", ["n1", "minus1"], ["target"], axis=0),
        mk("Reshape", ["x", "target"], ["flat"]),
        mk("ConstantOfShape", ["two"], ["ones"], value=onnx.numpy_helper.from_array(
            np.ones(1, np.float32))),
        mk("Mul", ["flat", "ones"], ["y0"]),
    ]
    return Case("Shape-fold", nodes, {"x": X4}, ["y0"],
                {"axes": _i64(0), "two": _i64(2, 252)})


CASES = [*_conv_cases(), *_elementwise_cases(), *_pool_cases(), *_nn_cases(),
         *_resize_cases(), *_shape_cases(), _folded_shape_case()]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_matches_onnxruntime(case: Case, backend: str) -> None:
    model = _model_proto(case)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, case.inputs)
    net = from_onnx(model, trace=False)
    got = net(*(mge.tensor(v) for v in case.inputs.values()))
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    if not all(g.shape == w.shape and np.allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)
               for g, w in zip(got, want)):
        # Where onnxruntime departs from ONNX's own reference evaluator (the spec), the
        # spec decides: onnxruntime 1.23 (the newest for Python 3.10) counts the part of a
        # ceil-mode AveragePool window beyond the padding, which the spec and 1.24+ do not.
        spec = ReferenceEvaluator(model).run(None, case.inputs)
        assert not all(np.allclose(s, w, rtol=1e-5, atol=1e-5) for s, w in zip(spec, want)), \
            "mge differs from onnxruntime, which agrees with ONNX's reference evaluator"
        want = spec
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)


def test_folding_leaves_no_runtime_shape_ops() -> None:
    net = from_onnx(_model_proto(_folded_shape_case()), trace=False)
    assert [type(s.op).__name__ for s in net._steps] == ["Reshape", "Call"]


# ---------------------------------------------------------------- errors and names
def test_unsupported_ops_are_all_listed() -> None:
    mk = helper.make_node
    nodes = [
        mk("Relu", ["x"], ["a"], name="ok"),
        mk("ImageDecoder", ["a"], ["b"], name="decode_1"),
        mk("Relu", ["b"], ["c"], name="after_decode"),
        mk("StringSplit", ["a"], ["d", "e"], name="split_7"),
        mk("Conv", ["a", "w"], ["f"], name="conv4d"),
        mk("Upsample", ["a"], ["g"], name="up", domain="com.example"),
    ]
    case = Case("bad", nodes, {"x": _rand(1, 2, 3)}, ["c", "d", "f", "g"],
                {"w": _rand(2, 2, 1, 1, 1, 3)})
    with pytest.raises(UnsupportedOnnxError) as info:
        from_onnx(_model_proto(case), trace=False)
    message = str(info.value)
    for name in ("decode_1", "split_7", "conv4d", "up"):
        assert repr(name) in message
    assert "ImageDecoder" in message and "StringSplit" in message and \
        "after_decode" not in message
    assert [p.name for p in info.value.problems] == ["decode_1", "split_7", "conv4d", "up"]


def test_names_are_sanitized_and_kept() -> None:
    mk = helper.make_node
    nodes = [
        mk("Conv", ["image:0", "stem/conv.weight"], ["feat/1"]),
        mk("Add", ["feat/1", "forward"], ["out:0"]),
        mk("Identity", ["feat/1"], ["aux"]),
    ]
    case = Case("names", nodes, {"image:0": X4}, ["aux", "out:0"],
                {"stem/conv.weight": W_CONV, "forward": _f32(0.5)})
    net = from_onnx(_model_proto(case), trace=False)
    assert net.input_names == ("image:0",)
    assert net.output_names == ("aux", "out:0")
    assert [k for k, _ in net.named_parameters()] == ["stem_conv_weight"]
    assert [k for k, _ in net.named_buffers()] == ["forward_1"]
    aux, out = net(mge.tensor(X4))
    np.testing.assert_allclose(out.numpy(), aux.numpy() + 0.5, rtol=1e-6, atol=1e-6)


def test_shared_initializer_with_two_layouts() -> None:
    mk = helper.make_node
    nodes = [mk("Gemm", ["a", "w"], ["y0"]), mk("Gemm", ["a", "w"], ["y1"], transB=1),
             mk("Gemm", ["a", "w"], ["y2"], transB=1)]
    case = Case("shared", nodes, {"a": _rand(2, 4)}, ["y0", "y1", "y2"], {"w": _rand(4, 4)})
    net = from_onnx(_model_proto(case), trace=False)
    assert [k for k, _ in net.named_parameters()] == ["w", "w_1"]
    want = ort.InferenceSession(_model_proto(case).SerializeToString()).run(None, case.inputs)
    for g, w in zip(net(mge.tensor(case.inputs["a"])), want):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)


def test_bad_inputs() -> None:
    with pytest.raises(TypeError, match="path, bytes or onnx.ModelProto"):
        from_onnx(42)
    with pytest.raises(ValueError, match="no such file"):
        from_onnx("/nonexistent/model.onnx")
    net = from_onnx(_model_proto(one("Relu", {"x": X4})), trace=False)
    with pytest.raises(TypeError, match=r"1 input\(s\) \['x'\], got 2"):
        net(mge.tensor(X4), mge.tensor(X4))


def test_runtime_error_names_the_node() -> None:
    net = from_onnx(_model_proto(one("Reshape", {"x": X4}, {"s": _i64(4, -1)})), trace=False)
    with pytest.raises(ValueError) as info:
        net(mge.tensor(np.ones(7, np.float32)))
    if hasattr(info.value, "__notes__"):
        assert info.value.__notes__ == ["while running ONNX node Reshape 'reshape_node'"]


def test_trace_returns_traced_module() -> None:
    case = _conv_cases()[2]
    model = _model_proto(case)
    traced = from_onnx(model.SerializeToString())
    from mge.traced_module import TracedModule

    assert isinstance(traced, TracedModule)
    eager = from_onnx(model, trace=False)
    np.testing.assert_allclose(traced(mge.tensor(X4)).numpy(), eager(mge.tensor(X4)).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_save_load_roundtrip(tmp_path: Path) -> None:
    net = from_onnx(_model_proto(_pool_cases()[1]), trace=False)
    mge.save(net, tmp_path / "net.pkl")
    # an OnnxModule is a program (steps naming functions), not data: trusted files only
    again = mge.load(tmp_path / "net.pkl", weights_only=False)
    x = mge.tensor(_rand(2, 3, 9, 10))
    np.testing.assert_array_equal(again(x).numpy(), net(x).numpy())


def test_pretrained_traced_module_matches_reference() -> None:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    from mge.traced_module import TracedModule

    traced = from_onnx(MODELS_DIR / "mobilenet_v3_small_1.0_224_dq.onnx")
    assert isinstance(traced, TracedModule)
    x = np.load(MODELS_DIR / "reference" / "cat_224.npy")
    _, logits = traced(mge.tensor(x))
    want = np.load(MODELS_DIR / "reference" / "mobilenet_v3_small_1.0_224_dq__cat_logits.npy")
    np.testing.assert_allclose(logits.numpy(), want, rtol=0, atol=1e-4)


def test_cli_onnx_to_tracedmodule(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mge.convert.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(_model_proto(_conv_cases()[1]), path)
    out = tmp_path / "m.tm"
    assert main(["onnx_to_tracedmodule", "-i", str(path), "-o", str(out), "--check"]) == 0
    text = capsys.readouterr().out
    error = float(text.split("onnxruntime: ")[1].split()[0])
    assert error < 1e-5 and "TracedModule" in text
    net = mge.load(out)
    x = mge.tensor(X4)
    np.testing.assert_allclose(net(x).numpy(), from_onnx(path, trace=False)(x).numpy(),
                               rtol=1e-6, atol=1e-6)

    bad = tmp_path / "bad.onnx"
    onnx.save(_model_proto(one("ImageDecoder", {"x": X4})), bad)
    assert main(["onnx_to_tracedmodule", "-i", str(bad), "-o", str(out)]) == 2
    assert "ImageDecoder" in capsys.readouterr().err
