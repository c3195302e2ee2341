"""MegEngine's ``megengine.utils.comp_graph_tools``: walking and editing loaded ``.mge`` graphs.

Works on the ``VarNode``/``OpNode`` objects of :mod:`mge.graph.ir`, as
``megbrain_graph.load_graph`` returns them. The traversal order, the in-degree
bookkeeping of :func:`graph_traversal` and the operator order of :func:`get_oprs_seq`
follow MegEngine 1.13 (Kahn's algorithm over a heap keyed by ``(priority, id, name)``,
data providers moved next to their first reader).

Example:
    >>> from mge.core.tensor import megbrain_graph as G
    >>> from mge.utils import comp_graph_tools as cgtools
    >>> outs = G.load_graph("model.mge").output_vars_list  # doctest: +SKIP
    >>> [cgtools.get_opr_type(o) for o in cgtools.get_oprs_seq(outs)][:2]  # doctest: +SKIP
    ['Host2DeviceCopy', 'ConvolutionForward']
"""

from __future__ import annotations

import collections
import heapq
import itertools
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import numpy as np

from ..graph.interpreter import Executor
from ..graph.ir import Graph, OpNode, VarNode
from ..graph.specialize import specialize
from ..ops.shape import Reshape
from ..serialization.mge_graph import ValueDependentModel, graph_from_bytes
from ..serialization.mge_staged import StagedModel, run_stages

__all__ = [
    "GraphInference",
    "find_vars_by_name",
    "get_dep_vars",
    "get_opr_type",
    "get_oprs_seq",
    "get_owner_opr_inputs",
    "get_owner_opr_type",
    "graph_traversal",
    "replace_oprs",
    "replace_vars",
    "set_priority_to_id",
]

_DATA_PROVIDERS = ("ImmutableTensor", "Host2DeviceCopy")
#: input-shape signatures whose specialized graph a GraphInference keeps (oldest dropped)
MAX_SPECIALIZED = 8


def _is_var(v: Any) -> bool:
    """A graph var: an IR ``VarNode`` or a ``network_node.VarNode`` (it has an owner)."""
    return isinstance(v, VarNode) or (hasattr(v, "owner") and hasattr(v, "dtype"))


def _var_list(var: VarNode | Iterable[VarNode], what: str) -> list[VarNode]:
    vars_ = [var] if _is_var(var) else list(var)
    for v in vars_:
        if not _is_var(v):
            raise TypeError(f"{what}: expected VarNode, got {type(v).__name__}: {v!r}")
    return vars_


def get_dep_vars(var: VarNode | list[VarNode],
                 var_type: str | list[str] | None = None) -> list[VarNode]:
    """The vars ``var`` depends on (itself included, breadth first) whose owner operator
    type is in ``var_type`` (a type name or a list); all of them when ``var_type`` is None.

    Example:
        >>> inputs = get_dep_vars(outs, "Host2DeviceCopy")  # doctest: +SKIP
    """
    types = [var_type] if isinstance(var_type, str) else var_type
    outputs: list[VarNode] = []
    memo: set[int] = set()
    queue = collections.deque(_var_list(var, "get_dep_vars"))
    while queue:
        v = queue.popleft()
        if id(v) in memo:
            continue
        memo.add(id(v))
        queue.extend(get_owner_opr_inputs(v))
        if types is None or get_owner_opr_type(v) in types:
            outputs.append(v)
    return outputs


def get_owner_opr_inputs(var: VarNode) -> list[VarNode]:
    """The inputs of the operator that produces ``var``."""
    return var.owner.inputs


def get_owner_opr_type(var: VarNode) -> str:
    """The type of the operator that produces ``var`` (``"Elemwise"``, ...)."""
    return var.owner.type


def get_opr_type(opr: OpNode) -> str:
    """The type of ``opr``."""
    if _is_var(opr) or not hasattr(opr, "inputs"):
        raise TypeError(f"get_opr_type: expected OpNode, got {type(opr).__name__}")
    return opr.type


class _StableOprHeap:
    """Operators ordered by ``extra_priority(opr) + (id, name)``; a set-like ``add``."""

    def __init__(self, extra_priority: Callable[[OpNode], tuple]) -> None:
        self._heap: list[tuple] = []
        self._extra_priority = extra_priority
        self._used: dict[tuple[int, str | None], OpNode] = {}
        self._tie = itertools.count()  # names may be None: never compare operators

    def add(self, opr: OpNode) -> None:
        other = self._used.setdefault((opr.id, opr.name), opr)
        if other is not opr:
            raise RuntimeError(f"duplicated (id, name) pair: opr0={other} opr1={opr}")
        key = (*self._extra_priority(opr), opr.id, opr.name or "", next(self._tie))
        heapq.heappush(self._heap, (*key, opr))

    def pop_min(self) -> OpNode:
        return heapq.heappop(self._heap)[-1]

    def __bool__(self) -> bool:
        return bool(self._heap)


def graph_traversal(outputs: list[VarNode]) -> tuple[dict, dict, dict, dict, dict, dict]:
    """Walk the graph behind ``outputs`` (breadth first from their owners).

    Returns ``(map_oprs, map_vars, var2oprs, opr2receivers, indegree2opr, opr2indegree)``:
    opr id -> opr; var id -> var (the vars read by some operator); var id -> ``[(opr id,
    input index)]`` of its readers; opr id -> ids of the oprs reading it (once per input);
    in-degree -> oprs with it (in-degree 0: a heap of operators, others: opr ids);
    opr id -> in-degree, the number of inputs (a var read twice counts twice).
    """
    map_oprs: dict[int, OpNode] = collections.defaultdict(set)  # type: ignore[arg-type]
    map_vars: dict[int, VarNode] = collections.defaultdict(set)  # type: ignore[arg-type]
    var2oprs: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
    opr2receivers: dict[int, list[int]] = collections.defaultdict(list)
    queue: list[OpNode] = []
    for opr in (v.owner for v in _var_list(outputs, "graph_traversal")):
        if opr not in queue:
            queue.append(opr)
    visited = {opr.id for opr in queue}
    indegree2opr: dict[int, Any] = collections.defaultdict(set)
    indegree2opr[0] = _StableOprHeap(lambda op: (op.priority,))
    opr2indegree: dict[int, int] = {}
    idx = 0
    while idx < len(queue):
        cur = queue[idx]
        idx += 1
        map_oprs[cur.id] = cur
        for var_idx, var in enumerate(cur.inputs):
            map_vars[var.id] = var
            var2oprs[var.id].append((cur.id, var_idx))
            pre = var.owner
            if pre.id not in visited:
                visited.add(pre.id)
                queue.append(pre)
            opr2receivers[pre.id].append(cur.id)
        indegree = len(cur.inputs)
        indegree2opr[indegree].add(cur if indegree == 0 else cur.id)
        opr2indegree[cur.id] = indegree
    return map_oprs, map_vars, var2oprs, opr2receivers, indegree2opr, opr2indegree


def _topological_sort(map_oprs: dict, opr2receivers: dict, indegree2opr: dict,
                      opr2indegree: dict, prune_immtensor: bool) -> list[OpNode]:
    seq = []
    remaining = len(map_oprs)
    while indegree2opr[0]:
        opr = indegree2opr[0].pop_min()
        remaining -= 1
        if opr.type != "ImmutableTensor" or not prune_immtensor:
            seq.append(opr)
        for post_id in opr2receivers[opr.id]:
            indegree = opr2indegree[post_id]
            indegree2opr[indegree].remove(post_id)
            indegree -= 1
            indegree2opr[indegree].add(map_oprs[post_id] if indegree == 0 else post_id)
            opr2indegree[post_id] = indegree
    if remaining:
        raise RuntimeError(f"there are {remaining} remaining nodes; cyclic graph?")
    return seq


def _data_providers_near_readers(oprs: list[OpNode]) -> list[OpNode]:
    """Move each constant/input provider right before the first operator reading it."""
    providers = [o for o in oprs if o.type in _DATA_PROVIDERS]
    pending = {id(o) for o in providers}
    result = []
    for o in oprs:
        if o.type in _DATA_PROVIDERS:
            continue
        for inp in o.inputs:
            if id(inp.owner) in pending:
                pending.discard(id(inp.owner))
                result.append(inp.owner)
        result.append(o)
    return result + [o for o in providers if id(o) in pending]


def _prune_reshape_shape_oprs(outputs: list[VarNode], oprs: list[OpNode],
                              var2oprs: dict) -> list[OpNode]:
    """Drop the operators that only compute Reshape target shapes (known at inference)."""
    marked: set[int] = set()
    visited: set[tuple[int, int]] = set()

    def prune(cur: OpNode, post: OpNode) -> None:
        useless = True
        for out in cur.outputs:
            if "workspace" not in (out.name or ""):
                readers = var2oprs[out.id]
                if (post.id, post.inputs.index(out)) in readers:
                    readers.remove((post.id, post.inputs.index(out)))
                useless = useless and not readers
        if useless:
            marked.add(cur.id)
            for opr in {id(v.owner): v.owner for v in cur.inputs}.values():
                if (opr.id, cur.id) not in visited:
                    visited.add((opr.id, cur.id))
                    prune(opr, cur)

    for var in get_dep_vars(outputs):
        reshape = var.owner
        if isinstance(reshape.op, Reshape) and len(reshape.inputs) > 1:
            prune(reshape.inputs[1].owner, reshape)
    return [o for o in oprs if o.id not in marked]


def get_oprs_seq(outputs: list[VarNode], prune_reshape: bool = False,
                 prune_immtensor: bool = True) -> list[OpNode]:
    """The operators behind ``outputs`` in an execution order (MegEngine's order).

    Args:
        outputs: model outputs.
        prune_reshape: drop the operators that only compute Reshape target shapes.
        prune_immtensor: drop ``ImmutableTensor`` operators.

    Example:
        >>> [o.type for o in get_oprs_seq(outs)]  # doctest: +SKIP
        ['Host2DeviceCopy', 'ConvolutionForward', 'Elemwise']
    """
    outputs = _var_list(outputs, "get_oprs_seq")
    map_oprs, _, var2oprs, opr2receivers, indegree2opr, opr2indegree = graph_traversal(outputs)
    seq = _topological_sort(map_oprs, opr2receivers, indegree2opr, opr2indegree,
                            prune_immtensor)
    seq = _data_providers_near_readers(seq)
    if prune_reshape:
        readers = {k: list(v) for k, v in var2oprs.items()}
        seq = _prune_reshape_shape_oprs(outputs, seq, collections.defaultdict(list, readers))
    return seq


def set_priority_to_id(dest_vars: list[VarNode]) -> None:
    """Set the priority of every operator behind ``dest_vars`` whose priority is 0 to its id."""
    for opr in get_oprs_seq(_var_list(dest_vars, "set_priority_to_id"), False, False):
        if opr.priority == 0:
            opr.priority = opr.id


def _rebuild(dst: list[VarNode], varmap: Mapping[VarNode, VarNode]) -> list[VarNode]:
    """New vars for ``dst`` where every var in ``varmap`` is read as its replacement."""
    for old, new in varmap.items():
        if (old.shape, old.dtype) != (new.shape, new.dtype):
            raise ValueError(f"cannot replace {old!r} by {new!r}: shape or dtype differs")
    reachable = [*dst, *varmap.values()]
    ids = itertools.count(1 + max(
        max([o.id, *(v.id for v in o.outputs)]) for o in Graph().ops(reachable)))
    mapped: dict[int, VarNode] = {id(k): v for k, v in varmap.items()}
    replacement_deps = {id(o) for o in Graph().ops(list(varmap.values()))}
    for opr in Graph().ops(dst):
        if id(opr) in replacement_deps:
            continue
        inputs = [mapped.get(id(v), v) for v in opr.inputs]
        if all(a is b for a, b in zip(inputs, opr.inputs, strict=True)):
            continue
        infos = opr.op.check_inputs([v.info for v in inputs])
        clone = OpNode(next(ids), opr.op, inputs, opr.name)
        clone.priority = opr.priority
        for old, info in zip(opr.outputs, infos, strict=True):
            new = VarNode(next(ids), info.shape, info.dtype, old.name)
            new.owner = clone
            clone.outputs.append(new)
            mapped.setdefault(id(old), new)
    return [mapped.get(id(v), v) for v in dst]


def replace_vars(dst: list[VarNode], varmap: Mapping[VarNode, VarNode]) -> list[VarNode]:
    """New vars that correspond to ``dst`` with every ``old`` var of ``varmap`` replaced.

    The graph behind ``dst`` is left unchanged; operators that read a replaced var
    (directly or not) are copied.

    Example:
        >>> new_outs = replace_vars(outs, {old_var: new_var})  # doctest: +SKIP
    """
    dst = _var_list(dst, "replace_vars")
    pairs = dict(getattr(varmap, "items", lambda: varmap)())
    for k, v in pairs.items():
        _var_list([k, v], "replace_vars")
    return _rebuild(dst, pairs)


def replace_oprs(dst: list[VarNode], oprmap: Mapping[OpNode, OpNode]) -> list[VarNode]:
    """New vars that correspond to ``dst`` with each ``old`` operator of ``oprmap``
    replaced by its ``new`` operator (output ``i`` by output ``i``)."""
    dst = _var_list(dst, "replace_oprs")
    varmap: dict[VarNode, VarNode] = {}
    for old, new in getattr(oprmap, "items", lambda: oprmap)():
        if not isinstance(old, OpNode) or not isinstance(new, OpNode):
            raise TypeError("replace_oprs: oprmap must map OpNode to OpNode")
        if len(old.outputs) != len(new.outputs):
            raise ValueError(f"cannot replace {old} ({len(old.outputs)} outputs) with "
                             f"{new} ({len(new.outputs)} outputs)")
        varmap.update(zip(old.outputs, new.outputs, strict=True))
    return _rebuild(dst, varmap)


def find_vars_by_name(dst: list[VarNode], names: list[str]) -> list[VarNode]:
    """The vars named ``names`` (in that order) in the graph behind ``dst``."""
    missing = list(names)
    found: dict[str, VarNode] = {}
    for v in get_dep_vars(dst) + list(dst):
        if v.name in missing:
            found[v.name] = v
            missing.remove(v.name)
    if missing:
        raise ValueError(f"Can not find varnode {missing} in this model")
    return [found[n] for n in names]


def _read_bytes(file: str | os.PathLike | IO[bytes]) -> tuple[bytes, str]:
    """A model file's bytes and its name for messages."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return f.read(), os.fspath(file)
    name = getattr(file, "name", None)
    return file.read(), name if isinstance(name, str) else "<file>"


class GraphInference:
    """Load a ``.mge`` file (path or file object) and run it on numpy inputs.

    Args:
        file: path or binary file object.
        outputs: names of the vars to compute (default: the file's outputs).
        profiling, optimize_for_inference: accepted for MegEngine compatibility.

    A model whose shapes depend on input values (MegEngine's ``nms``, ``cond_take``
    dumps) runs in stages (:mod:`mge.serialization.mge_staged`); its later stages are
    read again on every run, and ``outputs`` must then be left out.

    Example:
        >>> g = GraphInference("model.mge")                   # doctest: +SKIP
        >>> g.run(inp_dict={"data": image})["output"].shape   # doctest: +SKIP
        (1, 1000)
    """

    def __init__(self, file: str | IO[bytes], outputs: list[str] | None = None,
                 profiling: bool = False, optimize_for_inference: bool = False,
                 **kwargs: Any) -> None:
        data, source = _read_bytes(file)
        self._staged: StagedModel | None = None
        try:
            result = graph_from_bytes(data, source)
        except ValueDependentModel as exc:
            if outputs is not None:
                raise ValueError(f"{source}: outputs cannot be chosen for a model whose "
                                 f"shapes depend on input values ({exc.problem})") from None
            self._init_staged(StagedModel.from_bytes(data, source))
            return
        output_vars = list(result.output_vars_list)
        if outputs is not None:
            output_vars = find_vars_by_name(output_vars, outputs)
        self._origin_outputs = output_vars
        graph = Graph()
        graph.inputs = get_dep_vars(output_vars, "Host2DeviceCopy")
        graph.outputs = output_vars
        self._graph = graph
        self._inputs = OrderedDict((v.name, v) for v in graph.inputs)
        self._executor = Executor(graph)
        self._specialized: dict[tuple, tuple[Graph, Executor]] = {}

    def _init_staged(self, staged: StagedModel) -> None:
        self._staged = staged
        self._first = staged.stage(0, {})
        self._inputs = OrderedDict((v.name, v) for v in self._first.graph.inputs)
        self._executor = Executor(self._first.graph)

    def _stage_runner(self, graph: Graph) -> Callable:
        executor = self._executor if graph is self._first.graph else Executor(graph)

        def run(feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
            out = executor.run_arrays({v.id: feeds[v.name or ""] for v in graph.inputs})
            return [np.asarray(executor.backend.to_numpy(a)) for a in out]
        return run

    def _run_staged(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        staged = self._staged
        assert staged is not None

        def get(start: int, values: Mapping[int, np.ndarray]) -> tuple[Any, Callable]:
            stage = self._first if start == 0 else staged.stage(start, values)
            return stage, self._stage_runner(stage.graph)

        results = run_stages(staged, feeds, get)
        return OrderedDict((name, r) for (_, name), r in
                           zip(staged.outputs, results, strict=True))

    def run(self, *inp_args: np.ndarray, inp_dict: dict[str, np.ndarray] | None = None
            ) -> dict[str, np.ndarray]:
        """Run on inputs given in order (``inp_args``) and/or by name; returns
        ``{output name: value}`` in output order."""
        names = list(self._inputs)
        if len(inp_args) > len(names):
            raise ValueError(f"This model expects {len(names)} inputs")
        given = dict(zip(names, inp_args, strict=False))
        given.update(inp_dict or {})
        if set(given) != set(names):
            raise ValueError(
                f"This model expects inputs {names}, but gets inputs {list(given)}")
        arrays = {}
        for name, var in self._inputs.items():
            value = given[name]
            value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            if value.ndim == 0 and var.shape == (1,):  # files have no 0-d: a scalar is (1,)
                value = value.reshape(1)
            arrays[name] = value
        if self._staged is not None:
            feeds = {v.id: self._executor.check_feed(v, arrays[n])
                     for n, v in self._inputs.items()}
            return self._run_staged({v.name or "": feeds[v.id] for v in self._inputs.values()})
        graph, executor = self._for_shapes({n: a.shape for n, a in arrays.items()})
        values = executor.run_arrays({v.id: executor.check_feed(v, arrays[v.name or ""])
                                      for v in graph.inputs})
        to_numpy = executor.backend.to_numpy
        return OrderedDict((v.name, np.asarray(to_numpy(a))) for v, a in
                           zip(self._graph.outputs, values, strict=True))

    def _for_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> tuple[Graph, Executor]:
        """The graph and executor for these input shapes: as MegEngine, other shapes than
        the file's re-infer every op (:func:`~mge.graph.specialize.specialize`; an op that
        cannot take them raises ``ShapeError`` naming the input and the op)."""
        changed = {n: tuple(s) for n, s in shapes.items() if tuple(s) != self._inputs[n].shape}
        if not changed:
            return self._graph, self._executor
        key = tuple(sorted(changed.items()))
        if key not in self._specialized:
            if len(self._specialized) >= MAX_SPECIALIZED:
                self._specialized.pop(next(iter(self._specialized)))
            graph = specialize(self._graph, changed)
            self._specialized[key] = (graph, Executor(graph))
        return self._specialized[key]
