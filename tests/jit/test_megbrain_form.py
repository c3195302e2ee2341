"""``trace.dump`` writes the graph MegEngine's dump writes: operator order, input order
of commutative ops, folded constants, names, priorities (``mge.jit.megbrain_form``).

The references are real MegEngine 1.13's dumps of the same traces
(``tools/oracle/make_dump_form.py`` -> ``tests/fixtures/interop/dump_form_*.mge``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge import Parameter
from mge.jit import trace
from mge.serialization.fbs import read_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interop"
OPTS: dict[str, Any] = dict(optimize_for_inference=False, keep_opr_name=True, keep_var_name=2)


class Simple(M.Module):
    def __init__(self) -> None:
        super().__init__(name="simple")
        self.k = Parameter(np.ones(3, "float32"))
        self.lin = M.Linear(3, 3)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        k = self.k.astype("int32").astype("float32") * 2
        return 2 * x + k + self.lin(x)


def _three(x: mge.Tensor, y: mge.Tensor, z: mge.Tensor) -> mge.Tensor:
    return F.exp(z) + F.exp(y) + x


def _branches(x: mge.Tensor, y: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
    a = x + y
    return F.relu(a) - F.abs(a), (F.ceil(a) * 2) / F.floor(a)


def _form(data: bytes) -> list[tuple]:
    """Operators as (type, name, inputs, output names); constants by type only (MegBrain
    names them by load-time ids, ``const<2>[4]``, mge leaves them unnamed)."""
    model = read_model(data, "x")
    rows = []
    for op in model.operators:
        const = op.type == "ImmutableTensor" and not (op.name or "").startswith("simple.")
        rows.append((op.type, None if const else op.name, tuple(op.inputs),
                     None if const else tuple(model.var_name(o) for o in op.outputs)))
    return rows


def _priority_order(data: bytes) -> list[str]:
    ops = [op for op in read_model(data, "x").operators
           if op.type not in ("Host2DeviceCopy", "ImmutableTensor")]
    return [op.name for op in sorted(ops, key=lambda op: op.priority)]


def _dump(f: trace, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    f.dump(buf, **OPTS, **kwargs)
    return buf.getvalue()


def _t(*shape: int) -> mge.Tensor:
    return mge.tensor(np.random.default_rng(0).random(shape).astype("float32"))


def test_commutative_inputs_and_repeated_names_as_megengine() -> None:
    f = trace(_three, symbolic=True, capture_as_const=True)
    f(_t(2), _t(2), _t(2))
    assert _form(_dump(f)) == _form((FIXTURES / "dump_form_three.mge").read_bytes())


def test_input_named_after_its_tensor_and_constant_second() -> None:
    g = trace(lambda x: 2 * x, symbolic=True, capture_as_const=True)
    g(mge.tensor(np.ones((2, 3), "float32"), name="data"))
    ours = _form(_dump(g))
    assert ours == _form((FIXTURES / "dump_form_named_input.mge").read_bytes())
    assert ours[-1][2] == (0, 1)  # MUL(data, const<2>), not MUL(const<2>, data)


def test_module_tensors_named_and_constant_chains_folded_as_megengine() -> None:
    m = trace(Simple(), symbolic=True, capture_as_const=True)
    m(_t(2, 3))
    ours = _dump(m, arg_names=["x"])
    assert _form(ours) == _form((FIXTURES / "dump_form_module.mge").read_bytes())
    types = [op.type for op in read_model(ours, "x").operators]
    assert "TypeCvt" not in types  # k.astype(int32).astype(float32) * 2 is one constant


def test_keep_opr_priority_orders_operators_as_recorded() -> None:
    b = trace(_branches, symbolic=True, capture_as_const=True)
    b(mge.tensor(1.0), mge.tensor(2.0))
    ours = _dump(b, keep_opr_priority=True)
    megengine = (FIXTURES / "dump_form_priority.mge").read_bytes()
    assert _form(ours) == _form(megengine)
    assert _priority_order(ours) == _priority_order(megengine) == [
        "ADD", "RELU", "ABS", "SUB", "CEIL", "MUL", "FLOOR", "TRUE_DIV"]


def test_folding_stops_at_megbrains_size_limit_and_keeps_values() -> None:
    big = mge.tensor(np.arange(2048, dtype="float32"))
    small = mge.tensor(np.arange(4, dtype="float32"))

    @trace(symbolic=True, capture_as_const=True)
    def f(x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        return x + (small * 3).sum(), F.exp(big * 0.001)[:4] * x

    x = _t(4)
    expect = [v.numpy() for v in f(x)]
    data = _dump(f)
    types = [op.type for op in read_model(data, "x").operators]
    assert types.count("Elemwise") == 4  # big * 0.001 and exp stay (2048 elements)
    from mge.utils.comp_graph_tools import GraphInference
    got = GraphInference(io.BytesIO(data)).run(x.numpy())
    for e, g in zip(expect, got.values(), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6)


@pytest.mark.parametrize("mode", ["ADD", "MUL", "MAX", "MIN", "EQ"])
def test_commutative_modes_sorted_others_kept(mode: str) -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        c = mge.tensor(np.float32(2))
        return F.elemwise._elwise(c, x, mode=mode), c - x

    f(_t(3))
    model = read_model(_dump(f), "x")
    by_name = {op.name: op for op in model.operators}
    assert model.var_name(by_name[mode].inputs[0]) == "arg_0"
    assert model.var_name(by_name["SUB"].inputs[1]) == "arg_0"  # SUB keeps (c, x)


def test_folded_quantized_constant_keeps_its_scale() -> None:
    """A constant-only op whose output is quantized folds to a constant of that quantized
    dtype (a plain int8 constant lost the scale and failed the next quantized op)."""
    from mge.dtype import get_scale, qint8
    from mge.graph.ir import Graph
    from mge.jit.megbrain_form import fold_constants
    from mge.ops import TypeCvt

    graph = Graph()
    six = graph.add_const(np.float32(6.0))  # 0-d: the kernel's result is a numpy scalar
    (q,) = graph.add_op(TypeCvt(dtype="QuantizedS8(scale=0.5)"), [six])
    graph.outputs = [q]
    fold_constants(graph)
    (out,) = graph.outputs
    assert out.is_const and get_scale(out.value.dtype) == 0.5
    assert out.dtype == qint8(0.5) and out.value.tolist() == 12
