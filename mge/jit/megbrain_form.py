"""What MegBrain does to a traced graph while ``trace.dump`` builds it, before any pass.

MegEngine 1.13 dumps a trace by building a MegBrain graph from the recorded ops
(``TraceResult::dump``), and MegBrain changes a graph as it is built. ``.mge`` files
written by mge show the same changes, so that their operators, their order and their
names are MegEngine's:

* **Arithmetic rules** at ``opt_level >= 1`` (``log(exp(x))`` is ``x``...,
  :mod:`mge.jit.arith_rules`), where they keep the var's shape and dtype.
* **Constant folding** (``GraphOptimizer::replace_const_var``): a single-output op whose
  value MegBrain can infer statically (elementwise, ``TypeCvt``, ``Reduce``, reshapes,
  ``Concat``, ``Subtensor``...) and whose inputs are all constants becomes a constant,
  unless it holds 1024 elements or more. A quantized ``Linear``'s
  ``bias.astype(qint32)`` is stored as its ``qint32`` value, not as a ``TypeCvt``.
  Folded constants are never merged with equal ones (MegBrain merges them; see
  DESIGN.md on ``clip``).
* **Input order of commutative ops** (``AddInputSortType::CUR_ADDED``): the two inputs of
  ``ADD``, ``MUL``, ``MAX``, ``MIN``, ``EQ``... are sorted by MegBrain's var ids, which
  number the graph inputs first, then every captured constant, then the ops' outputs in
  recording order: ``2 * x`` is stored as ``MUL(x, 2)``.
* **Constants** without a name are named as MegBrain names an ``ImmutableTensor``:
  ``const<2>[4]``, ``const{2,3}[8]`` (the value or shape, then its node id).
* **Repeated names** get ``[0]``, ``[1]``... counting only the operators the outputs
  depend on, in the order MegBrain visits them (inputs first), after folding.

Example:
    >>> g = megbrain_form(graph, base_names)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backends import get_backend
from ..core.apply import run_op
from ..graph.index import GraphIndex
from ..graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode, VarNode
from ..ops.elemwise import Elemwise
from .arith_rules import simplify_graph
from .megbrain_facts import MAX_CONST_FOLDING_SIZE, VALUE_INFERRED
from .naming import name_constants

#: Elemwise modes whose two inputs MegBrain sorts (megdnn's ``commutable`` modes)
COMMUTATIVE = frozenset({"ADD", "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_TANH",
                         "MUL", "RMULH", "MAX", "MIN", "EQ", "LOG_SUM_EXP"})


def _auto_named(var: VarNode, node: OpNode) -> bool:
    """True when ``var`` bears its operator's automatic name (not one a user gave)."""
    return bool(node.name) and (var.name == node.name or
                                bool(var.name) and var.name.startswith(node.name + ":"))


def fold_constants(graph: Graph) -> dict[int, int]:
    """Fold constant-only ops as MegBrain does; returns ``{new const var id: id of the
    var it replaced}`` (the folded value takes the place of the op in MegBrain's order)."""
    replaced: dict[int, int] = {}
    numpy = get_backend("numpy")
    index = GraphIndex(graph)  # each replacement then rewires only the var's readers
    for node in index.ops():
        if not isinstance(node.op, VALUE_INFERRED) or len(node.outputs) != 1 or not node.inputs:
            continue
        if not all(v.is_const for v in node.inputs):
            continue
        (out,) = node.outputs
        if int(np.prod(out.shape)) >= MAX_CONST_FOLDING_SIZE:
            continue
        value = run_op(node.op, *[v.value for v in node.inputs], backend=numpy)
        # a copy: numpy compares dtypes without their metadata, so astype(copy=False) keeps
        # a plain int8 value (a 0-d result comes back as a numpy scalar), losing the scale
        value = np.asarray(value).astype(out.dtype).reshape(out.shape)
        name = None if _auto_named(out, node) else out.name
        const = graph.add_const(value, name=name)
        replaced[const.id] = replaced.get(out.id, out.id)
        index.replace_var(out, const)
    return replaced


def sort_commutative_inputs(graph: Graph, folded: Mapping[int, int]) -> None:
    """Order the inputs of commutative ``Elemwise`` ops by MegBrain's var ids."""
    input_ids = {v.id for v in graph.inputs}

    def rank(var: VarNode) -> tuple[int, int]:
        if var.id in input_ids:
            return (0, var.id)
        if var.id in folded:
            return (2, folded[var.id])
        return (1, var.id) if isinstance(var.owner.op, ConstOp) else (2, var.id)

    for node in graph.ops():
        if isinstance(node.op, Elemwise) and node.op.mode in COMMUTATIVE \
                and len(node.inputs) == 2:
            node.inputs = sorted(node.inputs, key=rank)


def number_repeated_names(graph: Graph, base_names: Mapping[int, str]) -> None:
    """Name the ops of ``base_names`` (op id -> name without ``[i]``) that the outputs
    depend on: ``[i]`` suffixes where a name repeats, counted in ``graph.ops()`` order."""
    nodes = [n for n in graph.ops() if n.id in base_names
             and not isinstance(n.op, (Host2DeviceCopy, ConstOp))]
    counts: dict[str, int] = {}
    for node in nodes:
        counts[base_names[node.id]] = counts.get(base_names[node.id], 0) + 1
    seen: dict[str, int] = {}
    for node in nodes:
        base = base_names[node.id]
        name = base
        if counts[base] > 1:
            name = f"{base}[{seen.get(base, 0)}]"
            seen[base] = seen.get(base, 0) + 1
        for k, var in enumerate(node.outputs):
            if _auto_named(var, node):
                var.name = name if len(node.outputs) == 1 else f"{name}:o{k}"
        node.name = name


def megbrain_form(graph: Graph, base_names: Mapping[int, str], opt_level: int = 2) -> Graph:
    """``graph`` (changed in place) as MegBrain would build it from the recording
    (``opt_level >= 1``: with its arithmetic rules, :mod:`mge.jit.arith_rules`)."""
    recorded = sorted(graph.ops(), key=lambda node: node.id)  # recording order
    if opt_level >= 1:
        simplify_graph(graph)
    folded = fold_constants(graph)
    name_constants(graph, recorded, folded)
    sort_commutative_inputs(graph, folded)
    number_repeated_names(graph, base_names)
    return graph


__all__ = ["COMMUTATIVE", "MAX_CONST_FOLDING_SIZE", "VALUE_INFERRED", "fold_constants",
           "megbrain_form", "number_repeated_names", "sort_commutative_inputs"]
