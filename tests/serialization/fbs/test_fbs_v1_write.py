"""Writing FBS (v1): ``dump(..., dump_format="FBS")`` and ``write_model(model, "FBS")``,
and what v1 cannot hold is refused with a clear error."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.jit import trace
from mge.runtime.executor import GraphInference
from mge.serialization.fbs import (
    OutputAlias,
    Param,
    TensorFormat,
    detect_format,
    read_model,
    write_model,
    write_model_v1,
)
from mge.serialization.mge_graph import graph_from_bytes

FIXTURES = Path(__file__).parents[2] / "fixtures" / "fbs_v1"


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, padding=1)
        self.bn = M.BatchNorm2d(4)
        self.fc = M.Linear(4 * 2 * 2, 3)

    def forward(self, x: mge.Tensor) -> list[mge.Tensor]:
        y = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        values, indices = F.topk(y.reshape(2, -1), 2)
        return [F.softmax(self.fc(F.flatten(y, 1)), axis=1), values, indices]


def _traced() -> tuple[trace, np.ndarray, list[np.ndarray]]:
    net = _Net()
    net.eval()
    x = np.random.RandomState(0).randn(2, 3, 4, 4).astype("float32")

    @trace(symbolic=True, capture_as_const=True)
    def f(data: mge.Tensor) -> list[mge.Tensor]:
        return net(data)

    outs = [o.numpy() for o in f(mge.tensor(x))]
    return f, x, outs


@pytest.mark.parametrize("keep_var_name", [0, 1, 2])
def test_dump_fbs_runs_like_the_trace(keep_var_name: int) -> None:
    f, x, want = _traced()
    buf = io.BytesIO()
    info = f.dump(buf, arg_names=["data"], dump_format="FBS", keep_var_name=keep_var_name)
    data = buf.getvalue()
    assert data[:4] == b"MGBC" and detect_format(data) == "FBS"
    assert info.tot_bytes == len(data) and info.inputs == ["data"]
    got = GraphInference(io.BytesIO(data)).run(x)
    for out, ref in zip(got.values(), want, strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    model = read_model(data, "dumped.mge")
    named = [] if model.vars is None else [v.name for v in model.vars if v.name]
    if keep_var_name == 0:
        assert model.vars is None
    elif keep_var_name == 1:  # only operators producing an output keep names
        out_ids = {o.var_id for o in model.outputs}
        assert {i for i, v in enumerate(model.vars) if v.name} <= out_ids | {
            i for op in model.operators if out_ids & set(op.outputs) for i in op.outputs}
    else:  # every name the FBS_V2 dump keeps
        v2 = io.BytesIO()
        f.dump(v2, arg_names=["data"], keep_var_name=2)
        assert named and [v.name for v in model.vars] == [
            v.name for v in read_model(v2.getvalue(), "v2").vars]


def test_dump_fbs_matches_fbs_v2_dump() -> None:
    f, _, _ = _traced()
    v1, v2 = io.BytesIO(), io.BytesIO()
    f.dump(v1, dump_format="FBS")
    f.dump(v2, dump_format="FBS_V2")
    a, b = read_model(v1.getvalue(), "v1"), read_model(v2.getvalue(), "v2")
    assert [(op.type, op.inputs, op.outputs, op.params) for op in a.operators] == [
        (op.type, op.inputs, op.outputs, op.params) for op in b.operators]


def test_dump_format_refusals() -> None:
    f, x, _ = _traced()
    with pytest.raises(ValueError, match="dump_format must be 'FBS_V2' or 'FBS'"):
        f.dump(io.BytesIO(), dump_format="FBS_V3")
    with pytest.raises(ValueError, match="test cases .* FBS_V2 models only"):
        f.dump(io.BytesIO(), dump_format="FBS", input_data=["#rand(0,1)"])
    with pytest.raises(ValueError, match="unknown dump_format 'json'"):
        write_model(read_model((FIXTURES / "convnet.mge").read_bytes(), "m"), "json")


def test_write_refuses_what_v1_cannot_hold() -> None:
    model = read_model((FIXTURES / "multi.mge").read_bytes(), "multi.mge")
    aliased = dataclasses.replace(model, output_aliases=[OutputAlias(model.outputs[0].original_id,
                                                                     "alias")])
    with pytest.raises(ValueError, match="output aliases cannot be written as FBS"):
        write_model_v1(aliased)
    topk = next(i for i, op in enumerate(model.operators) if op.type == "TopK")
    ops = list(model.operators)
    ops[topk] = dataclasses.replace(ops[topk], params=[
        Param("TopK", {**ops[topk].params[0].fields, "mode": "KTH_ONLY"})])
    with pytest.raises(ValueError, match=r"operator #\d+ \(TopK\): 2 outputs, but MegEngine "
                                         "gives this operator 1"):
        write_model_v1(dataclasses.replace(model, operators=ops))
    const = next(i for i, op in enumerate(model.operators) if op.type == "ImmutableTensor")
    ops = list(model.operators)
    tensor = dataclasses.replace(ops[const].tensors[0], format=TensorFormat("IMAGE2D_PACK4"))
    ops[const] = dataclasses.replace(ops[const], tensors=[tensor])
    with pytest.raises(ValueError, match="tensor format IMAGE2D_PACK4 cannot be written as FBS"):
        write_model_v1(dataclasses.replace(model, operators=ops))
    ops = list(model.operators)
    ops[const] = dataclasses.replace(ops[const], type="NoSuchOpr", type_id=None, version=None)
    with pytest.raises(ValueError, match=r"\(NoSuchOpr\): has no FBS \(v1\) serializer"):
        write_model_v1(dataclasses.replace(model, operators=ops))


def test_v1_of_an_fbs_v2_model_loads_the_same() -> None:
    """FBS_V2 -> v1 (the reverse converter) keeps what mge loads."""
    data = (FIXTURES / "quantized.v2.mge").read_bytes()
    v1 = write_model(read_model(data, "q.v2.mge"), "FBS")
    with np.load(FIXTURES / "quantized.npz") as z:
        x, want = z["in:data"], z["out:0"]
    for blob in (data, v1):
        (out,) = GraphInference(io.BytesIO(blob)).run(x).values()
        np.testing.assert_array_equal(out, want)
    assert graph_from_bytes(v1, "q").graph.lint() is None
