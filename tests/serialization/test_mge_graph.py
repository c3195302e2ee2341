"""``.mge`` <-> graph mapping: every op round-trips, names, metadata, MegEngine's quirks."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest

from mge.graph import Graph
from mge.graph.static_values import source_count
from mge.ops import Elemwise, TypeCvt
from mge.ops.shape import AxisAddRemove, CondTake, Reshape, Subtensor
from mge.ops.vision.detection import CountPrefix
from mge.runtime.executor import Executor
from mge.serialization.fbs import Metadata, OutputVar, read_model, write_model
from mge.serialization.mge_graph import MgeFormatError, dump_graph, load_graph
from mge.utils.comp_graph_tools import GraphInference
from tests.ops.test_op_table import CASES


def _case_graph(case) -> tuple[Graph, dict[str, np.ndarray]]:  # noqa: ANN001
    g = Graph()
    # a shape input (Reshape's target) must be known when loading: a constant here
    n = len(case.inputs) - source_count(case.op, len(case.inputs))
    # and so must state the op updates in place (MegEngine needs shared tensors there)
    shared = case.op.mge_shared_inputs(len(case.inputs))
    feeds = {f"in{k}": x for k, x in enumerate(case.inputs[:n]) if k not in shared}
    inputs = [g.add_input(f"in{k}", x.shape, x.dtype) if f"in{k}" in feeds else g.add_const(x)
              for k, x in enumerate(case.inputs)]
    outs = g.add_op(case.op, inputs)
    listed = case.op.mge_outputs(len(inputs))  # MegEngine files omit volatile outputs
    if listed is not None:
        outs = outs[listed[0]:listed[1]]
    for k, v in enumerate(outs):
        v.name = f"out{k}"
    g.outputs = outs
    return g, feeds


def _run(g: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    # a loaded scalar input is a 1-element vector
    return Executor(g, "numpy").run(**{v.name: feeds[v.name].reshape(v.shape) for v in g.inputs})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_op_round_trips(case) -> None:  # noqa: ANN001
    g, feeds = _case_graph(case)
    if case.op.unwritable():  # an in-memory-only variant (a fused plan epilogue)
        with pytest.raises(ValueError, match="in memory only"):
            dump_graph(g)
        return
    data, info = dump_graph(g)
    assert info.tot_bytes == len(data) and info.outputs == [v.name for v in g.outputs]
    if isinstance(case.op, CondTake):  # its output size follows values: not in the file
        with pytest.raises(MgeFormatError, match="depends on the mask's values"):
            load_graph(io.BytesIO(data))
        return
    if isinstance(case.op, CountPrefix):  # MegEngine's slice to a count var: read in stages
        with pytest.raises(MgeFormatError, match="Subtensor.*depends on input values"):
            load_graph(io.BytesIO(data))
        staged = GraphInference(io.BytesIO(data)).run(inp_dict=feeds)
        for want, got in zip(_run(g, feeds), staged.values(), strict=True):
            np.testing.assert_array_equal(got, want)
        return
    loaded = load_graph(io.BytesIO(data))
    loaded.graph.lint()
    assert list(loaded.output_vars_dict) == [v.name for v in g.outputs]
    for want, got in zip(_run(g, feeds), _run(loaded.graph, feeds), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.reshape(want.shape), want)


def _small_graph() -> Graph:
    g = Graph()
    x = g.add_input("data", (2, 3), "float32")
    c = g.add_const(np.arange(3, dtype=np.float32), name="bias")
    (s,) = g.add_op(Elemwise(mode="ADD"), [x, c])
    (r,) = g.add_op(Reshape(shape=(3, -1)), [s])
    (y,) = g.add_op(Elemwise(mode="RELU"), [r])
    y.name = "prob"
    r.name = "hidden"
    g.outputs = [y]
    return g


def test_load_result_fields_and_names(tmp_path: Path) -> None:
    path = tmp_path / "m.mge"
    data, info = dump_graph(_small_graph(), metadata=Metadata(user_info=b"hi"))
    path.write_bytes(data)
    res = load_graph(str(path))
    assert res.output_vars_list == [res.output_vars_dict["prob"]]
    out = res.output_vars_list[0]
    assert (out.name, out.dtype, out.shape, out.owner.type) == (
        "prob", np.float32, (3, 2), "Elemwise")
    assert out.owner.inputs[0].owner.type == "Reshape"
    assert out.owner.inputs[0].owner.params == {"shape": (3, -1), "axis": 1}
    assert [v.name for v in res.graph.inputs] == ["data"] and info.inputs == ["data"]
    assert res.metadata.is_valid and res.metadata.user_info == b"hi"
    with open(path, "rb") as f:
        assert load_graph(f).output_vars_list[0].shape == (3, 2)


# MegEngine's FBS_V2 writer stores every middle tensor with its name from level 1 on
# (a traced dump's intermediate names, Reduce[0]..., are in its files at the default level)
@pytest.mark.parametrize(("level", "names"), [
    (0, None), (1, {"data", "bias", "prob", "hidden"}), (2, {"data", "bias", "prob", "hidden"})])
def test_keep_var_name_levels(level: int, names: set[str] | None) -> None:
    data, _ = dump_graph(_small_graph(), keep_var_name=level)
    model = read_model(data, "m")
    if names is None:
        assert model.vars is None
    else:
        assert {v.name for v in model.vars} - {""} == names


def test_reshape_writes_megengine_var_input_form() -> None:
    data, _ = dump_graph(_small_graph())
    model = read_model(data, "m")
    (reshape,) = [op for op in model.operators if op.type == "ReshapeV1"]
    shape_op = model.operators[reshape.inputs[1]]
    assert shape_op.type == "ImmutableTensor" and shape_op.tensors[0].data.tolist() == [3, -1]
    assert reshape.params[0].fields == {"axis": 1}


def test_scalars_are_one_element_vectors_in_files() -> None:
    g = Graph()
    x = g.add_input("x", (), "float32")
    (y,) = g.add_op(Elemwise(mode="NEGATE"), [x])
    (z,) = g.add_op(Subtensor(items=((0, None, None, None, 1),)), [g.add_const([1, 2, 3])])
    g.outputs = [y, z]
    loaded = load_graph(io.BytesIO(dump_graph(g)[0])).graph
    assert [v.shape for v in loaded.inputs] == [(1,)]
    assert [v.shape for v in loaded.outputs] == [(1,), (1,)]
    assert Executor(loaded).run(np.array([2.0], np.float32))[1].tolist() == [2]


def test_distinct_equal_constants_stay_distinct() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    lo, hi = g.add_const(np.float32(0)), g.add_const(np.float32(0))
    (a,) = g.add_op(Elemwise(mode="MAX"), [x, lo])
    (b,) = g.add_op(Elemwise(mode="MIN"), [a, hi])
    g.outputs = [b]
    model = read_model(dump_graph(g)[0], "m")
    assert sum(op.type == "ImmutableTensor" for op in model.operators) == 2


def test_same_var_output_twice_needs_one_name() -> None:
    g = _small_graph()
    g.outputs = [g.outputs[0], g.outputs[0]]
    dump_graph(g)
    other = g.outputs[0].owner.inputs[0]
    g.outputs = [g.outputs[0], other]
    other.name = g.outputs[0].name
    dump_graph(g)  # two vars may share a name


def test_float16_and_casts_round_trip() -> None:
    g = Graph()
    x = g.add_input("x", (4,), "uint8")
    (f,) = g.add_op(TypeCvt(dtype="float16"), [x])
    (h,) = g.add_op(AxisAddRemove(desc=(("ADD_1", 0),)), [f])
    g.outputs = [h]
    loaded = load_graph(io.BytesIO(dump_graph(g)[0])).graph
    out = Executor(loaded).run(np.arange(4, dtype=np.uint8))[0]
    assert out.dtype == np.float16 and out.tolist() == [[0, 1, 2, 3]]


def test_unsupported_things_give_clear_errors() -> None:
    g = _small_graph()
    with pytest.raises(ValueError, match="model_version 2"):
        dump_graph(g, model_version=1)
    data = bytearray(dump_graph(g)[0])
    with pytest.raises(MgeFormatError, match="^<bytes>|truncated"):
        load_graph(io.BytesIO(bytes(data[:20])))


def test_shared_tensors_and_holders() -> None:
    """SharedDeviceTensor / MultipleDeviceTensorHolder params become constants."""
    g = Graph()
    x = g.add_input("x", (2,), "float32")
    w = g.add_const(np.array([1.0, 2.0], np.float32), name="w", kind="SharedDeviceTensor")
    (y,) = g.add_op(Elemwise(mode="MUL"), [x, w])
    g.outputs = [y]
    data, info = dump_graph(g, keep_param_name=True)
    assert info.params == ["w"]
    model = read_model(data, "m")
    (sdt,) = [op for op in model.operators if op.type == "SharedDeviceTensor"]
    assert sdt.tensors[0].name == "w"
    # the same two tensors in one holder, as MegEngine's ParamMergePass writes them
    holder = dataclasses.replace(sdt, type="MultipleDeviceTensorHolder", type_id=None,
                                 version=None, tensors=[sdt.tensors[0], sdt.tensors[0]],
                                 outputs=[sdt.outputs[0], sdt.outputs[0] + 1])
    ops = model.operators
    k = ops.index(sdt)
    shifted = [dataclasses.replace(op, inputs=[i + (i > sdt.outputs[0]) for i in op.inputs],
                                   outputs=[o + 1 for o in op.outputs]) for op in ops[k + 1:]]
    model.operators = [*ops[:k], holder, *shifted]
    model.vars = None
    model.outputs = [OutputVar(model.outputs[0].var_id + 1, model.outputs[0].original_id)]
    loaded = load_graph(io.BytesIO(write_model(model)))
    assert [v.name for v in loaded.graph.params()] == ["w"]
    assert loaded.graph.params()[0].owner.type == "SharedDeviceTensor"
    assert Executor(loaded.graph).run(np.array([3.0, 4.0], np.float32))[0].tolist() == [3, 8]
