"""The incremental graph index: ``replace_var`` as ``Graph.replace_var`` does it, at the
cost of what it touches (live ops, readers and positions kept right after each edit)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mge.graph import Graph, GraphError, VarNode
from mge.graph.index import GraphIndex
from mge.graph.passes import arith_reorder
from mge.graph.passes.util import GraphView
from mge.graph.rewrite import rewrite_to_fixed_point
from mge.ops import Elemwise

_UNARY = ("NEGATE", "RELU", "EXP")
_BINARY = ("ADD", "MUL", "SUB")


def _random_graph(rng: random.Random, size: int) -> Graph:
    """A random DAG of elementwise ops on two inputs and a constant, three outputs."""
    g = Graph()
    pool = [g.add_input("a", (3,), "float32"), g.add_input("b", (3,), "float32"),
            g.add_const(np.ones(3, np.float32))]
    for _ in range(size):
        if rng.random() < 0.4:
            (v,) = g.add_op(Elemwise(mode=rng.choice(_UNARY)), [rng.choice(pool)])
        else:
            (v,) = g.add_op(Elemwise(mode=rng.choice(_BINARY)), rng.choices(pool, k=2))
        pool.append(v)
    g.outputs = rng.sample(pool[-size // 2:], 3)
    return g


def _new_var(rng: random.Random, g: Graph, old: VarNode, candidates: list[VarNode]
             ) -> VarNode:
    """What replaces ``old``: another var, a new op reading it, or a new op on others."""
    pick = rng.random()
    if pick < 0.2:
        return rng.choice(candidates)
    if pick < 0.3:
        return g.add_const(np.full(3, 2, np.float32))
    inputs = [old if pick < 0.75 else rng.choice(candidates), rng.choice(candidates)]
    (inner,) = g.add_op(Elemwise(mode=rng.choice(_BINARY)), inputs)
    (new,) = g.add_op(Elemwise(mode=rng.choice(_UNARY)), [inner])
    return new


@pytest.mark.parametrize("seed", range(12))
def test_replace_var_matches_graph_replace_var(seed: int) -> None:
    """Random replacements through the index and through ``Graph.replace_var`` on a copy
    give the same graph, and the index stays equal to a fresh walk after each."""
    rng = random.Random(seed)
    g = _random_graph(rng, 40)
    twin = g.copy()
    index = GraphIndex(g)
    for _ in range(30):
        live = [v for node in index.ops() for v in node.outputs if not v.is_input]
        if not live:
            break  # replaced down to the inputs
        old = rng.choice(live)
        new = _new_var(rng, g, old, live + list(g.inputs))
        # the same edit on the copy (copies keep ids; the new ops are made again there)
        by_id = {v.id: v for node in twin.ops(list(twin.inputs) + twin.outputs)
                 for v in node.outputs}
        twin_new = by_id.get(new.id) or _rebuild(twin, new, by_id)
        index.replace_var(old, new)
        twin.replace_var(by_id[old.id], twin_new)
        index.check()
        assert str(g) == str(twin)
        assert [n.id for n in index.ops()] == [n.id for n in twin.ops()]
        g.lint()


def _rebuild(twin: Graph, var: VarNode, by_id: dict[int, VarNode]) -> VarNode:
    """``var`` (new ops outside ``twin``) made in ``twin`` with the same ids."""
    if var.id in by_id:
        return by_id[var.id]
    node = var.owner
    if var.is_const:
        made = twin.add_const(var.value)
    else:
        made = twin.add_op(node.op, [_rebuild(twin, v, by_id) for v in node.inputs])[0]
    assert (made.id, made.owner.id) == (var.id, node.id)  # both graphs count alike
    by_id[var.id] = made
    return made


def test_replacing_by_an_op_placed_after_a_reader_renumbers() -> None:
    """``new`` computed from an op the order put after a reader of ``old``: the index
    renumbers the positions (one walk) and stays right."""
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    (old,) = g.add_op(Elemwise(mode="RELU"), [x])
    (reader,) = g.add_op(Elemwise(mode="NEGATE"), [old])
    (late,) = g.add_op(Elemwise(mode="EXP"), [x])
    (out,) = g.add_op(Elemwise(mode="ADD"), [reader, late])
    g.outputs = [out]
    index = GraphIndex(g)
    assert index.position(late.owner) > index.position(reader.owner)
    (new,) = g.add_op(Elemwise(mode="NEGATE"), [late])
    walks = index.walks
    index.replace_var(old, new)
    assert index.walks == walks + 1
    index.check()
    assert reader.owner.inputs == [new] and not index.is_live(old.owner)
    assert index.position(late.owner) < index.position(new.owner) < \
        index.position(reader.owner)


def test_a_reader_that_new_depends_on_keeps_reading_old() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    (old,) = g.add_op(Elemwise(mode="RELU"), [x])
    (y,) = g.add_op(Elemwise(mode="NEGATE"), [old])
    g.outputs = [y]
    index = GraphIndex(g)
    (z,) = g.add_op(Elemwise(mode="EXP"), [y])
    index.replace_var(y, z)  # z = exp(y): y's owner is not rewired to read z
    index.check()
    assert g.outputs == [z] and z.owner.inputs == [y] and index.readers(y) == [z.owner]
    with pytest.raises(GraphError, match="shape or dtype differs"):
        index.replace_var(old, g.add_const(np.zeros(4, np.float32)))


def _mul_chain(n: int) -> Graph:
    """``x * c * c * ... * c`` (``n`` multiplies) then a RELU: ``arith_reorder`` folds
    each multiply into the next, one rewrite per multiply, each in the middle of the
    chain."""
    g = Graph()
    v = g.add_input("x", (4,), "float32")
    for _ in range(n):
        (v,) = g.add_op(Elemwise(mode="MUL"), [v, g.add_const(np.ones(4, np.float32))])
    (y,) = g.add_op(Elemwise(mode="RELU"), [v])
    g.outputs = [y]
    return g


class _CountingView(GraphView):
    """Counts the rewrites and the index's visits of the most expensive one."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.rewrites = 0
        self.worst = 0
        self._visits = self.index.visits

    def refresh(self) -> None:  # called after each rewrite (and before each sweep)
        spent = self.index.visits - self._visits
        self.rewrites += spent > 0
        self.worst = max(self.worst, spent)
        self._visits = self.index.visits


def test_a_rewrite_on_a_long_chain_touches_a_few_ops() -> None:
    """20000 multiplies folded one by one: each rewrite looks at a bounded number of ops
    (not the graph), and the graph is walked once per sweep only."""
    n = 20_000
    g = _mul_chain(n)
    view = _CountingView(g)
    assert rewrite_to_fixed_point(view, arith_reorder.RULES)
    assert view.rewrites == n - 1
    assert view.worst <= 12, f"a rewrite visited {view.worst} ops"
    assert view.index.walks <= 3  # building, and one sweep after the rewrites
    assert [n.type for n in g.ops()] == ["Host2DeviceCopy", "ImmutableTensor", "Elemwise",
                                         "Elemwise"]
    view.index.check()
