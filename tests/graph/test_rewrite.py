"""The rewrite engine: patterns, rule tables, the fixed point and the pass registry."""

from __future__ import annotations

import numpy as np
import pytest

from mge.graph import Graph
from mge.graph.interpreter import Executor
from mge.graph.passes.util import GraphView, elemwise, rewrite
from mge.graph.rewrite import (
    PassRegistry,
    Pat,
    Rule,
    RuleSet,
    both_orders,
    of_kinds,
    rewrite_to_fixed_point,
)
from mge.ops import Elemwise
from mge.ops.shape import Reshape


def _neg_neg_plus_const() -> tuple[Graph, object]:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (n1,) = g.add_op(Elemwise(mode="NEGATE"), [x])
    (n2,) = g.add_op(Elemwise(mode="NEGATE"), [n1])
    (y,) = g.add_op(Elemwise(mode="ADD"), [g.add_const(np.float32(2.0).reshape(1, 1)), n2])
    y.name = "y"
    g.outputs = [y]
    return g, x


def _drop_double_negation(view: GraphView, root: object, x: object) -> bool:
    return view.replace(root, x)


NEG_NEG = Rule("-(-x) -> x", Pat(elemwise("NEGATE"), inputs=(
    Pat(elemwise("NEGATE"), inputs=(Pat.var("x"),), sole=True),)), _drop_double_negation)


def test_rule_table_rewrites_to_fixed_point_and_keeps_values() -> None:
    g, _ = _neg_neg_plus_const()
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = Executor(g).run(data)[0]
    assert rewrite(g, RuleSet([NEG_NEG]))
    g.lint()
    assert [n.op.mode for n in g.ops() if isinstance(n.op, Elemwise)] == ["ADD"]
    np.testing.assert_array_equal(Executor(g).run(data)[0], expected)
    assert g.outputs[0].name == "y"
    assert not rewrite(g, RuleSet([NEG_NEG])), "nothing left to rewrite"


def test_a_rule_rooted_at_a_kind_is_tried_only_on_ops_of_that_kind() -> None:
    g, _ = _neg_neg_plus_const()
    asked: dict[str, list[str]] = {"tagged": [], "untagged": []}

    def negation(which: str):
        def predicate(node: object) -> bool:
            asked[which].append(node.type)
            return isinstance(node.op, Elemwise) and node.op.mode == "NEGATE"
        return predicate

    never = Rule("tagged", Pat(of_kinds(negation("tagged"), Reshape)), lambda *a, **k: True)
    anything = Rule("untagged", Pat(negation("untagged")), lambda *a, **k: False)
    assert not rewrite(g, RuleSet([never, anything]))
    assert asked["tagged"] == []
    assert asked["untagged"].count("Elemwise") == 3
    # the same predicate declared of Elemwise ops is asked, and its rule rewrites
    negate = Rule("tagged", Pat(of_kinds(negation("tagged"), Elemwise)),
                  lambda view, root: view.replace(root, root.owner.inputs[0]))
    assert rewrite(g, RuleSet([negate]))
    assert asked["tagged"].count("Elemwise") >= 3
    assert [n.op.mode for n in g.ops() if isinstance(n.op, Elemwise)] == ["ADD"]


def test_sole_reader_blocks_a_match() -> None:
    g, _ = _neg_neg_plus_const()
    inner = next(n for n in g.ops() if isinstance(n.op, Elemwise)).outputs[0]
    g.outputs = [*g.outputs, inner]  # the inner negation is also an output: keep it
    assert not rewrite(g, RuleSet([NEG_NEG]))


def test_captures_constants_and_both_orders() -> None:
    g, _ = _neg_neg_plus_const()
    seen = []

    def record(view: GraphView, root: object, x: object, c: object) -> bool:
        seen.append((view.constant(c).item(), view.constant(x)))
        return False  # decline: the table moves on to the mirrored rule

    rules = RuleSet(both_orders("x + c", Pat(elemwise("ADD"), inputs=(
        Pat.var("x", const=False), Pat.cvar("c"))), record))
    assert not rewrite(g, rules)
    assert seen == [(2.0, None)], "only the mirrored order matches (the constant is first)"


def test_a_rule_that_undoes_itself_is_stopped() -> None:
    g, _ = _neg_neg_plus_const()

    def flip(view: GraphView, root: object, a: object, b: object) -> bool:
        return view.replace_with(root, Elemwise(mode="ADD"), [b, a])

    rules = RuleSet([Rule("a + b -> b + a", Pat(elemwise("ADD"), inputs=(
        Pat.var("a"), Pat.var("b"))), flip)])
    with pytest.raises(RuntimeError, match="fixed point after 5 rewrites"):
        rewrite_to_fixed_point(GraphView(g), rules, limit=5)


def test_registry_orders_prerequisites_and_lints_after_each_pass() -> None:
    linted: list[str] = []
    registry: PassRegistry[list] = PassRegistry("test", lambda target: linted.append(target[-1]))
    registry.register("b", requires=("a",))(lambda target: target.append("b") or True)
    registry.register("a")(lambda target: target.append("a") or False)
    target: list[str] = []
    assert registry.run(target, ["b"]) == ["b"]
    assert target == ["a", "b"] and linted == ["a", "b"]
    assert registry.expand(["b", "a"]) == ["a", "b"]
    registry.register("c", requires=("d",))(lambda target: False)
    registry.register("d", requires=("c",))(lambda target: False)
    with pytest.raises(ValueError, match="cycle"):
        registry.run([], ["c"])
    with pytest.raises(KeyError, match="unknown pass 'e'"):
        registry.run([], ["e"])


def test_graph_view_ops_follow_edits_made_through_it() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = [y]
    view = GraphView(g)
    before = view.ops()
    assert before == g.ops() and view.readers(x) == [y.owner]
    before.clear()  # callers get their own list
    assert len(view.ops()) == 2
    z = view.add(Elemwise(mode="NEGATE"), [y])
    view.replace(y, z)
    assert view.ops() == g.ops() and [n.type for n in view.ops()][-1] == "Elemwise"
    assert len(view.ops()) == 3


class _ListView:
    """A toy IR for the engine: ops are names in a list; ``marked`` holds the rewritten."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.marked: set[str] = set()
        self.attempts = 0

    def ops(self) -> list[str]:
        return list(self.names)

    def contains(self, op: str) -> bool:
        return op in self.names

    def refresh(self) -> None:
        pass


class _MarkRule:
    """Marks an op once its successor in the list is marked (or it is the last one), so
    a sweep in order marks only the last op and the ones it enables come sweeps later,
    unless ``eager``: then every op is marked in the first sweep."""

    def __init__(self, eager: bool) -> None:
        self.eager = eager

    def rewrite(self, view: _ListView, op: str) -> bool:
        view.attempts += 1
        if op in view.marked:
            return False
        i = view.names.index(op)
        if not self.eager and i + 1 < len(view.names) and view.names[i + 1] not in view.marked:
            return False
        view.marked.add(op)
        return True


def test_rewrites_go_on_with_the_sweep_instead_of_starting_over() -> None:
    """One rewrite per op costs two sweeps (the second finds nothing), not a restart from
    the first op after each rewrite (quadratic: 8000-op graphs took minutes)."""
    view = _ListView([f"op{i}" for i in range(300)])
    assert rewrite_to_fixed_point(view, _MarkRule(eager=True))  # type: ignore[arg-type]
    assert view.marked == set(view.names)
    assert view.attempts == 2 * 300


def test_a_rewrite_enabling_an_earlier_match_gets_another_sweep() -> None:
    view = _ListView([f"op{i}" for i in range(5)])
    assert rewrite_to_fixed_point(view, _MarkRule(eager=False))  # type: ignore[arg-type]
    assert view.marked == set(view.names)  # one op per sweep, back to front


def test_ops_removed_by_a_rewrite_are_not_visited() -> None:
    class _DropNext:
        def rewrite(self, view: _ListView, op: str) -> bool:
            view.attempts += 1
            assert op in view.names, f"{op} was removed, yet visited"
            i = view.names.index(op)
            if op in view.marked or i + 1 == len(view.names):
                return False
            view.marked.add(op)
            del view.names[i + 1]
            return True

    view = _ListView([f"op{i}" for i in range(6)])
    assert rewrite_to_fixed_point(view, _DropNext())  # type: ignore[arg-type]
    assert view.names == ["op0", "op2", "op4"]
