"""trace.dump: MegEngine's rules, options, metadata and the dump result."""

from __future__ import annotations

import io
import pickle
import warnings

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from mge.runtime.executor import GraphInference
from mge.serialization.fbs import read_model


def _traced(**kwargs):  # noqa: ANN003, ANN202
    @trace(symbolic=True, capture_as_const=True, **kwargs)
    def f(x, y):
        return F.exp(x) + y

    f(mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0]))
    return f


def test_docs_example_io16xc32(tmp_path) -> None:  # noqa: ANN001
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.exp(x)

    f(mge.tensor(5.0))
    path = str(tmp_path / "test.mge")
    f.dump(path, enable_io16xc32=True)
    res = G.load_graph(path)
    computing_input = res.output_vars_list[0].owner.inputs[0]
    assert computing_input.dtype == np.float16
    assert res.output_vars_list[0].dtype == np.float32
    out = GraphInference(path).run(np.array([1.0], np.float32))
    np.testing.assert_allclose(list(out.values())[0], [np.e], rtol=1e-3)


def test_default_names_and_result() -> None:
    f = _traced()
    buf = io.BytesIO()
    info = f.dump(buf)
    # outputs are named after their operator, as MegEngine names them
    assert info.inputs == ["arg_0", "arg_1"] and info.outputs == ["ADD"]
    assert info.tot_bytes == len(buf.getvalue()) and info.nr_opr >= 3
    assert info.tensor_value_bytes == 0 and info.params == [] and info.content_hash == 0
    loaded = G.load_graph(io.BytesIO(buf.getvalue()))
    # file order, as MegEngine writes it: ADD(y, EXP(x)) (commutative inputs by var id)
    assert [v.name for v in loaded.graph.inputs] == ["arg_1", "arg_0"]
    assert GraphInference(io.BytesIO(buf.getvalue())).run(
        np.ones(2, np.float32), inp_dict={"arg_0": np.zeros(2, np.float32)}
    )["ADD"].tolist() == [2.0, 2.0]


def test_arg_and_output_names() -> None:
    f = _traced()
    info = f.dump(io.BytesIO(), arg_names=["a", "b"], output_names="out")
    assert info.inputs == ["a", "b"] and info.outputs == ["out"]
    with pytest.raises(ValueError, match="wrong number of arg_names, should be 2"):
        f.dump(io.BytesIO(), arg_names=["a"])
    with pytest.raises(ValueError, match="wrong number of output_names, should be 1"):
        f.dump(io.BytesIO(), output_names=["a", "b"])
    assert f.graph.inputs[0].name == "arg_0"  # dumping does not rename the trace


def test_dict_outputs_are_named_by_sorted_keys() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return {"z": x * 2, "a": x + 1}

    f(mge.tensor([1.0]))
    info = f.dump(io.BytesIO())
    assert info.outputs == ["a", "z"]
    with pytest.raises(TypeError, match="already in dict format"):
        f.dump(io.BytesIO(), output_names=["p", "q"])


def test_keyword_tensors_are_named_by_keyword() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x, *, scale):
        return x * scale

    f(mge.tensor([1.0]), scale=mge.tensor([2.0]))
    assert f.dump(io.BytesIO(), arg_names=["data"]).inputs == ["data", "scale"]


def test_refusals() -> None:
    @trace(symbolic=True)
    def plain(x):
        return x + 1

    plain(mge.tensor([1.0]))
    with pytest.raises(ValueError, match="capture_as_const=True"):
        plain.dump(io.BytesIO())

    @trace(symbolic=True, capture_as_const=True)
    def nothing(x):
        x + 1  # noqa: B018

    nothing(mge.tensor([1.0]))
    with pytest.raises(ValueError, match="without return values"):
        nothing.dump(io.BytesIO())
    f = _traced()
    with pytest.raises(ValueError, match=r"unknown options: \['enable_magic'\]"):
        f.dump(io.BytesIO(), enable_magic=True)
    with pytest.raises(ValueError, match="dump_format must be 'FBS_V2' or 'FBS'"):
        f.dump(io.BytesIO(), dump_format="FBS_V3")


def test_batchnorm_in_training_mode_is_refused() -> None:
    bn = M.BatchNorm2d(2)

    @trace(symbolic=True, capture_as_const=True)
    def f(x, *, net):
        return net(x)

    x = mge.tensor(np.ones((1, 2, 2, 2), np.float32))
    f(x, net=bn)
    with pytest.raises(ValueError, match="BatchNorm in training mode"):
        f.dump(io.BytesIO())
    bn.eval()
    g = trace(f.__wrapped__, symbolic=True, capture_as_const=True)
    g(x, net=bn)
    g.dump(io.BytesIO())


def test_options_are_ignored_with_a_warning_without_optimization() -> None:
    f = _traced()
    with pytest.warns(UserWarning, match="enable_io16xc32.*ignored"):
        info = f.dump(io.BytesIO(), optimize_for_inference=False, enable_io16xc32=True)
    assert info.nr_opr == 4  # two inputs, EXP, ADD: nothing rewritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.dump(io.BytesIO(), optimize_for_inference=False, enable_io16xc32=False)


@pytest.mark.parametrize(("options", "bits"), [
    ({}, 64),
    ({"enable_fuse_conv_bias_nonlinearity": True}, 68),
    ({"enable_io16xc32": True}, 65),
    ({"enable_ioc16": True}, 66),
    ({"enable_fuse_conv_bias_with_z": True}, 72),
    ({"enable_fuse_grain": False}, 0),
    ({"enable_nchw44": True}, (4 << 32) | 64),
    ({"enable_nchw88": True, "enable_nchw44_dot": True}, (5 << 32) | 64),
])
def test_metadata_records_options_like_megengine(options: dict, bits: int) -> None:
    f = _traced()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f.dump(buf, user_info={"author": "me"}, **options)
    meta = G.load_graph(io.BytesIO(buf.getvalue())).metadata
    assert meta.is_valid and not meta.graph_modified
    assert meta.optimize_options == bits
    assert pickle.loads(meta.user_info) == {"author": "me"}


def test_metadata_without_optimization_and_disabled() -> None:
    f = _traced()
    buf = io.BytesIO()
    f.dump(buf, optimize_for_inference=False)
    meta = G.load_graph(io.BytesIO(buf.getvalue())).metadata
    assert meta.is_valid and meta.optimize_options == 0 and not meta.optimized_for_inference
    buf = io.BytesIO()
    f.dump(buf, enable_metadata=False)
    assert read_model(buf.getvalue(), "m").metadata is None
    assert not G.load_graph(io.BytesIO(buf.getvalue())).metadata.is_valid


def test_layout_options_warn_that_nothing_is_transformed() -> None:
    f = _traced()
    with pytest.warns(UserWarning, match="enable_nchw44: recorded in the model's metadata"):
        f.dump(io.BytesIO(), enable_nchw44=True)


def test_append_and_paths(tmp_path) -> None:  # noqa: ANN001
    f = _traced()
    path = str(tmp_path / "m.mge")
    first = f.dump(path)
    f.dump(path, append=True)
    data = (tmp_path / "m.mge").read_bytes()
    assert len(data) == 2 * first.tot_bytes
    G.load_graph(path)  # the first model is read


def test_scalar_input_and_constants() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.minimum(F.maximum(x, mge.tensor(0.0)), mge.tensor(6.0))

    f(mge.tensor(3.0))
    buf = io.BytesIO()
    f.dump(buf, optimize_for_inference=False)
    run = GraphInference(io.BytesIO(buf.getvalue())).run
    assert [run(np.array([v], np.float32))["MIN"].item() for v in (-1, 3, 9)] == [0, 3, 6]


def preprocess_trace() -> tuple[trace, np.ndarray, np.ndarray]:
    """The docs' preprocessing: uint8 NHWC image, resize by warp_perspective, normalize, NCHW."""
    mat = mge.tensor(np.array([[[2.0, 0, 0.5], [0, 1.5, 0.25], [0, 0, 1]]], np.float32))
    mean = mge.tensor(np.array([103.5, 116.3, 123.7], np.float32).reshape(1, 1, 1, 3))
    std = mge.tensor(np.array([57.4, 57.1, 58.4], np.float32).reshape(1, 1, 1, 3))

    @trace(symbolic=True, capture_as_const=True)
    def pre(img):
        x = img.astype("float32")
        x = F.vision.warp_perspective(x, mat, (8, 10), format="NHWC")
        x = (x - mean) / std
        return F.transpose(x, (0, 3, 1, 2))

    img = np.random.default_rng(0).integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    return pre, img, pre(mge.tensor(img)).numpy()


@pytest.mark.parametrize("options", [{"optimize_for_inference": False}, {},
                                     {"enable_io16xc32": True}])
def test_preprocessing_ops(options: dict) -> None:
    pre, img, expect = preprocess_trace()
    buf = io.BytesIO()
    pre.dump(buf, arg_names=["data"], **options)
    loaded = G.load_graph(io.BytesIO(buf.getvalue()))
    types = {n.type for n in loaded.graph.ops()}
    assert {"TypeCvt", "WarpPerspectiveForward", "Elemwise", "Dimshuffle"} <= types
    assert loaded.graph.inputs[0].dtype == np.uint8
    out = GraphInference(io.BytesIO(buf.getvalue())).run(img)["Dimshuffle"]
    tol = 0.02 if options.get("enable_io16xc32") else 1e-4
    np.testing.assert_allclose(out, expect, atol=tol, rtol=0)
    if options.get("enable_io16xc32"):
        (warp,) = [n for n in loaded.graph.ops() if n.type == "WarpPerspectiveForward"]
        assert warp.inputs[0].dtype == np.float16 and warp.inputs[1].dtype == np.float32
    assert "WarpPerspectiveForward(%" in str(loaded.graph)  # the readable text form
