"""MegEngine's ``megengine.utils.network``: load a ``.mge`` file, edit it in Python, dump it.

:meth:`Network.load` turns a file's graph into editable :mod:`~mge.utils.network_node`
nodes. Edits: ``F.*`` on its VarNodes builds new operators; :meth:`Network.add_output`,
:meth:`~Network.remove_output`, :meth:`~Network.replace_vars`,
:meth:`~Network.replace_oprs`, :meth:`~Network.modify_opr_names`,
:meth:`~Network.reset_batch_size`, ``ImmutableTensor.set_value``, :meth:`~Network.make_const`
and :meth:`~Network.make_input_node`. :meth:`Network.dump` writes an FBS_V2 ``.mge``
(after MegEngine's inference passes unless ``optimize_for_inference=False``) with metadata
``graph_modified=True``. Nodes are found with :class:`NodeFilter` chains.

Example:
    >>> import mge.functional as F
    >>> net = Network.load("model.mge")                            # doctest: +SKIP
    >>> out = net.var_filter.name("fc*").as_list()[-1]             # doctest: +SKIP
    >>> prob = F.softmax(out, axis=1); prob.name = "prob"          # doctest: +SKIP
    >>> net.add_output(prob); net.reset_batch_size(4)              # doctest: +SKIP
    >>> net.dump("edited.mge", optimize_for_inference=False)       # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import io
import logging
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import numpy as np

from ..core.opdef import TensorInfo
from ..dtype import dtype_spec
from ..graph import ir, passes
from ..ops import Elemwise, TypeCvt
from ..ops.shape import CondTake
from ..serialization.fbs import Metadata
from ..serialization.mge_editable import load_editable
from ..serialization.mge_graph import (
    CompGraphDumpResult,
    ValueDependentModel,
    dump_graph,
    graph_from_bytes,
)
from ..serialization.pickle import load as load_pickle
from ..utils.atomic_file import write_file
from .comp_graph_tools import get_dep_vars, get_oprs_seq, set_priority_to_id
from .dtype_promotion import promote_all
from .network_node import (
    ConstOpBase,
    Host2DeviceCopy,
    ImmutableTensor,
    NetworkNode,
    OpNode,
    VarNode,
    set_symbolic_shape,
    str_to_mge_class,
)

logger = logging.getLogger(__name__)


def _promoted(graph: ir.Graph, inputs: list[ir.VarNode]) -> list[ir.VarNode]:
    """``Elemwise`` inputs of mixed dtypes converted to one (MegBrain's promotion, which a
    graph edit such as an int32 input replaced by a float32 constant relies on)."""
    dtypes = [v.dtype for v in inputs]
    target = promote_all(dtypes)
    if all(d == target and d.metadata == target.metadata for d in dtypes):
        return inputs
    spec = dtype_spec(target)
    return [v if v.dtype == target and v.dtype.metadata == target.metadata
            else graph.add_op(TypeCvt(dtype=spec), [v])[0] for v in inputs]

__all__ = [
    "Network", "NodeFilter", "NodeFilterCheckType", "NodeFilterHasInput", "NodeFilterName",
    "NodeFilterNotType", "NodeFilterType", "as_oprnode", "as_varnode", "set_symbolic_shape",
]


class Network:
    """A graph loaded from a ``.mge`` file (or built), editable node by node."""

    def __init__(self) -> None:
        self.input_vars: list[VarNode] = []
        self.output_vars: list[VarNode] = []
        self._metadata: Metadata | None = None

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, model_path: str | IO[bytes], outspec: list[str] | None = None) -> Network:
        """Load a ``.mge`` file (path or binary file object).

        Args:
            model_path: the file.
            outspec: names of the vars to keep as outputs (the subgraph they need).
        """
        if isinstance(model_path, (str, os.PathLike)):
            with open(model_path, "rb") as f:
                data, source = f.read(), os.fspath(model_path)
        else:
            name = getattr(model_path, "name", None)
            data, source = model_path.read(), name if isinstance(name, str) else "<file>"
        dynamic: set[int] = set()
        try:
            result = graph_from_bytes(data, source)
        except ValueDependentModel:
            try:  # MegEngine's dynamic shape vars (after cond_take): kept as such
                result, dynamic = load_editable(data, source)
            except ValueDependentModel as exc:
                raise ValueDependentModel(
                    exc.source, f"Network cannot edit a model whose shapes depend on input "
                    f"values (MegEngine's nms or cond_take): {exc.problem}; run it with "
                    "GraphInference, mge.lite or load_and_run", exc.operator) from None
        outputs = list(result.output_vars_list)
        if outspec is not None:
            by_name = {v.name: v for v in get_dep_vars(outputs) + outputs}
            missing = [n for n in outspec if n not in by_name]
            if missing:
                raise ValueError(f"Can not find {missing} in this model")
            outputs = [by_name[n] for n in outspec]
        self = cls()
        self._metadata = result.metadata
        nodes: dict[int, OpNode] = {}
        vars_: dict[int, VarNode] = {}
        for opr in get_oprs_seq(outputs, False, False):
            node = str_to_mge_class(opr.type).load(opr)
            nodes[id(opr)] = node
            for v in opr.inputs:
                node.add_inp_var(vars_[id(v)])
                vars_[id(v)].users.append(node)
            for v in opr.outputs:
                var = VarNode(v.shape, v.dtype, owner_opr=node, name=v.name)
                var._dynamic = v.id in dynamic
                vars_[id(v)] = var
                node.add_out_var(var)
            if isinstance(node, Host2DeviceCopy):
                self.input_vars.extend(node.outputs)
        self.output_vars = [vars_[id(v)] for v in outputs]
        return self

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The file's metadata as a dict (None when it has none)."""
        meta = self._metadata
        if meta is None or not meta.is_valid:
            return None
        user_info: Any = meta.user_info
        try:
            user_info = load_pickle(io.BytesIO(meta.user_info or b""))
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            logger.warning("can't parse user info by pickle (%s), so return the original "
                           "bytes object!", exc)
        info = {"user_info": user_info, "graph_modified": meta.graph_modified,
                "optimized_for_inference": meta.optimized_for_inference}
        if meta.optimized_for_inference:
            info.update(_infer_options(meta))
        return info

    # ---------------------------------------------------------------- building
    def make_const(self, data: Any, name: str | None = None, device: str | None = None
                   ) -> VarNode:
        """A new ``ImmutableTensor`` var holding ``data``."""
        return ImmutableTensor(data, name, device).outputs[0]

    def make_input_node(self, shape: tuple[int, ...], dtype: Any, name: str | None = None,
                        device: str | None = None) -> VarNode:
        """A new graph input (``Host2DeviceCopy``) var."""
        return Host2DeviceCopy(shape, dtype, name, device).outputs[0]

    def add_output(self, *vars: VarNode) -> None:
        """Add vars to the outputs (each once)."""
        self.add_dep_oprs(*vars)
        for var in vars:
            if not any(var is out for out in self.output_vars):
                self.output_vars.append(var)

    def remove_output(self, *vars: VarNode) -> None:
        """Remove vars from the outputs (a warning names a var that is not one)."""
        for var in vars:
            kept = [out for out in self.output_vars if out is not var]
            if len(kept) == len(self.output_vars):
                logger.warning("Failed to remove %s(%d). Please check whether this node is "
                               "in the output list.", var.name, id(var))
            self.output_vars = kept

    def add_dep_oprs(self, *vars: VarNode) -> list[VarNode]:
        """Check that ``vars`` (default: the outputs) are Network vars; returns them."""
        vars = vars or tuple(self.output_vars)
        for var in vars:
            if not isinstance(var, VarNode) or var.owner is None:
                raise TypeError(f"Only support add VarNode, got {var!r}")
        return list(vars)

    # ---------------------------------------------------------------- editing
    def modify_opr_names(self, modifier: str | Callable[[str], str]) -> None:
        """Rename every operator: a string is prepended (``"<s>.<name>"``), a function maps."""
        if isinstance(modifier, str):
            prefix = modifier
            modifier = lambda name: f"{prefix}.{name}"  # noqa: E731
        if not callable(modifier):
            raise TypeError("modify_opr_names: modifier must be a str or a callable")
        for opr in self.all_oprs:
            new = modifier(opr.name)
            if not isinstance(new, str):
                raise TypeError(f"modify_opr_names: the new name of {opr!r} is {new!r}")
            opr.name = new
            if isinstance(opr, Host2DeviceCopy):
                opr.outputs[0].name = new

    def reset_batch_size(self, batchsize: int, *, blacklist: Iterable[str] = ()) -> None:
        """Set the first dimension of every input not in ``blacklist`` to ``batchsize`` and
        re-infer the graph (ops whose params follow the batch are rewritten)."""
        blacklist = set(blacklist)
        previous = None
        for node in self.data_providers_filter:
            if node.name in blacklist:
                blacklist.remove(node.name)
                continue
            shape = list(node.shape)
            if previous is None:
                previous = shape[0]
            elif previous != shape[0]:
                raise ValueError(f"batchsize mismatch: batchsize={previous} shape={shape} "
                                 f"dp={node.name}")
            shape[0] = batchsize
            node.shape = tuple(shape)
        if previous is None:
            raise ValueError("no data provider found")
        if blacklist:
            raise ValueError(f"unused items in blacklist: {blacklist}")
        self._compile()

    def replace_vars(self, repl_dict: dict[VarNode, VarNode]) -> None:
        """Make every reader of each ``old`` var of ``repl_dict`` read its ``new`` var."""
        self.add_dep_oprs(*repl_dict.values())
        for var in self.all_vars:
            new = repl_dict.get(var)
            if new is None or new is var:
                continue
            for user in var.users:
                user.inputs = [new if v is var else v for v in user.inputs]
                if not any(user is u for u in new.users):
                    new.users.append(user)
            var.users.clear()
        self._compile()

    def replace_oprs(self, repl_dict: dict[OpNode, OpNode]) -> None:
        """Replace each ``old`` operator of ``repl_dict`` by its ``new`` one: the old output
        var objects stay (readers keep them) and become the new operator's outputs."""
        for opr in self.all_oprs:
            new = repl_dict.get(opr)
            if new is None:
                continue
            if len(opr.outputs) != len(new.outputs):
                raise ValueError(f"can not replace {type(opr).__name__} with "
                                 f"{type(new).__name__}: output counts differ")
            for var, new_var in zip(opr.outputs, new.outputs, strict=True):
                var.owner = new
                var._shape, var._dtype = new_var._shape, new_var._dtype
                var.name = new_var.name
                var.users.extend(u for u in new_var.users if u not in var.users)
                for user in new_var.users:
                    user.inputs = [var if v is new_var else v for v in user.inputs]
            new.outputs = opr.outputs
        self._compile()

    # ---------------------------------------------------------------- queries
    def get_opr_by_type(self, oprcls: type[OpNode], unique: bool = True) -> Any:
        if not issubclass(oprcls, OpNode):
            raise TypeError(f"get_opr_by_type: {oprcls!r} is not an OpNode class")
        return _unique(self.opr_filter.type(oprcls).as_list(), unique, f"of type {oprcls}")

    def get_opr_by_name(self, name: str, unique: bool = True) -> Any:
        return _unique(self.opr_filter.name(name).as_list(), unique, f"named {name!r}")

    def get_var_by_name(self, name: str, unique: bool = True) -> Any:
        return _unique(self.var_filter.name(name).as_list(), unique, f"named {name!r}")

    def get_var_receive_oprs(self, var: VarNode) -> list[OpNode]:
        """The operators reading ``var``."""
        return self.opr_filter.has_input(var).as_list()

    def get_dep_oprs(self, var: VarNode | list[VarNode]) -> list[OpNode]:
        """The operators ``var`` depends on (itself included), in execution order."""
        return get_oprs_seq(var, False, False)

    @property
    def opr_filter(self) -> NodeFilter:
        return NodeFilter(self.all_oprs)

    @property
    def var_filter(self) -> NodeFilter:
        return NodeFilter(self.all_vars)

    @property
    def params_filter(self) -> NodeFilter:
        """The ``ImmutableTensor`` operators."""
        return self.opr_filter.param_provider()

    @property
    def data_providers_filter(self) -> NodeFilter:
        """The ``Host2DeviceCopy`` operators (graph inputs)."""
        return self.opr_filter.data_provider()

    @property
    def dest_vars(self) -> list[VarNode]:
        return self.output_vars

    @property
    def all_oprs(self) -> list[OpNode]:
        return get_oprs_seq(self.output_vars, False, False)

    @property
    def all_vars(self) -> list[VarNode]:
        return get_dep_vars(self.output_vars)

    @property
    def all_vars_dict(self) -> dict[str, VarNode]:
        return self.var_filter.as_dict()

    @property
    def all_oprs_dict(self) -> dict[str, OpNode]:
        return self.opr_filter.as_dict()

    # ---------------------------------------------------------------- writing
    def _compile(self) -> ir.Graph:
        """The IR graph of the current nodes; re-infers every var's shape and dtype."""
        graph = ir.Graph()
        mapped: dict[int, ir.VarNode] = {}
        for node in self.all_oprs:
            if isinstance(node, Host2DeviceCopy):
                (var,) = node.outputs
                name = var.name or node.name
                outs = [graph.add_input(name, node.shape, node.dtype)]
            elif isinstance(node, ConstOpBase):
                outs = [graph.add_const(node.op, name=node.outputs[0].name)]
            else:
                inputs = [mapped[id(v)] for v in node.inputs]
                old = [TensorInfo(v._shape, v._dtype) for v in node.inputs]
                new = [v.info for v in inputs]
                if any(a.shape != b.shape for a, b in zip(old, new, strict=True)):
                    node.op = node.op.with_batch(old, new)
                if isinstance(node.op, Elemwise):
                    inputs = _promoted(graph, inputs)
                if isinstance(node.op, CondTake) and node.outputs[0]._dynamic:
                    # a dynamic CondTake's size is its bound: the mask's element count
                    node.op = dataclasses.replace(node.op, size=int(np.prod(inputs[1].shape)))
                outs = graph.add_op(node.op, inputs, name=node.name)
            outs[0].owner.priority = node._priority
            for var, out in zip(node.outputs, outs, strict=True):
                out.name = var.name
                mapped[id(var)] = out
        for node in self.all_oprs:  # shapes follow only once every reader saw the old ones
            for var in node.outputs:
                var._shape, var._dtype = mapped[id(var)].shape, mapped[id(var)].dtype
        graph.outputs = [mapped[id(v)] for v in self.output_vars]
        graph.inputs = [v for v in get_dep_vars(graph.outputs) if v.is_input]
        return graph

    def dump(self, file: str | IO[bytes], *, keep_var_name: int = 1,
             keep_opr_name: bool = False, keep_param_name: bool = False,
             keep_opr_priority: bool = False, strip_info_file: Any = None,
             append_json: bool = False, optimize_for_inference: bool = True,
             append: bool = False, user_info: Any = None, enable_metadata: bool = True,
             **kwargs: Any) -> CompGraphDumpResult:
        """Write the graph as an FBS_V2 ``.mge`` file (see :meth:`mge.jit.trace.dump` for
        the naming and ``enable_*`` options); metadata says ``graph_modified=True``."""
        for ignored in ("arg_names", "output_names"):
            if kwargs.pop(ignored, None):
                logger.warning('"%s" is not supported in Network.dump, rename %s vars '
                               "directly", ignored, ignored.split("_")[0])
        graph = self._compile()
        options = 0
        if optimize_for_inference:
            graph, options = passes.optimize_for_inference(graph, **kwargs)
        metadata = None
        if enable_metadata:
            metadata = Metadata(is_valid=True, graph_modified=True, optimize_options=options,
                                user_info=pickle.dumps(user_info))
        set_priority_to_id(graph.outputs)
        data, info = dump_graph(graph, keep_var_name=keep_var_name,
                                keep_opr_name=keep_opr_name, keep_param_name=keep_param_name,
                                metadata=metadata)
        if isinstance(file, (str, os.PathLike)):
            write_file(file, data, append=append)
        else:
            file.write(data)
        return info


def _infer_options(meta: Metadata) -> dict[str, bool]:
    """The ``enable_*`` options of the metadata, named as MegEngine's
    ``deserialize_infer_option`` names them."""
    flags = meta.optimize_flags()
    options = {k: True for k, v in flags.items() if k.startswith("enable_") and v}
    layout = flags.get("layout_transform")
    if layout is not None:
        options["enable_hwcd4" if layout == "NHWCD4" else f"enable_{layout.lower()}"] = True
    return options


def _unique(found: list[Any], unique: bool, what: str) -> Any:
    if not unique:
        return found
    if len(found) != 1:
        raise ValueError(f"{len(found)} nodes {what} found, expected 1")
    return found[0]


def as_varnode(obj: Any) -> VarNode:
    """``obj`` as a VarNode: a VarNode, an OpNode with one output, or a one-item iterable."""
    if isinstance(obj, VarNode):
        return obj
    if isinstance(obj, OpNode):
        if len(obj.outputs) != 1:
            raise ValueError(f"operator {obj} must have one output to be converted to "
                             f"VarNode; got {len(obj.outputs)} actually")
        return obj.outputs[0]
    items = _one_item(obj, "VarNode")
    return as_varnode(items)


def as_oprnode(obj: Any) -> OpNode:
    """``obj`` as an OpNode: an OpNode, a VarNode (its owner), or a one-item iterable."""
    if isinstance(obj, VarNode):
        return obj.owner
    if isinstance(obj, OpNode):
        return obj
    return as_oprnode(_one_item(obj, "OpNode"))


def _one_item(obj: Any, what: str) -> Any:
    if not isinstance(obj, Iterable):
        raise TypeError(f"{obj!r} is not compatible with {what}")
    items = list(obj)
    if len(items) != 1:
        raise ValueError(f"can not convert sequence of length {len(items)} to {what}")
    return items[0]


class NodeFilter:
    """A chainable filter over network nodes.

    Example:
        >>> net.opr_filter.param_provider().name("*bias").as_count()  # doctest: +SKIP
        3
    """

    def __init__(self, node_iter: Any) -> None:
        if isinstance(node_iter, VarNode):
            node_iter = get_oprs_seq(node_iter, False, False)[:-1]
        elif isinstance(node_iter, OpNode):
            node_iter = get_oprs_seq(node_iter.inputs, False, False)[:-1]
        if not isinstance(node_iter, Iterable):
            raise TypeError(f"NodeFilter needs an iterable of nodes, got {node_iter!r}")
        if not isinstance(node_iter, NodeFilter) and type(self) is not NodeFilterCheckType:
            node_iter = NodeFilterCheckType(node_iter, NetworkNode)
        self._iter = node_iter

    @classmethod
    def make_all_deps(cls, *dest_vars: VarNode) -> NodeFilter:
        """A filter over every operator the vars depend on."""
        return cls(list(get_oprs_seq(list(dest_vars), False, False)))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._iter)

    def type(self, node_type: type) -> NodeFilter:
        return NodeFilterType(self, node_type)

    def check_type(self, node_type: type) -> NodeFilter:
        """Raise ``TypeError`` on a node that is not a ``node_type``."""
        return NodeFilterCheckType(self, node_type)

    def not_type(self, node_type: type) -> NodeFilter:
        return NodeFilterNotType(self, node_type)

    def param_provider(self) -> NodeFilter:
        return self.type(ImmutableTensor)

    def data_provider(self) -> NodeFilter:
        return self.type(Host2DeviceCopy)

    def name(self, pattern: str, ignorecase: bool = True) -> NodeFilter:
        """Nodes whose name matches the glob ``pattern`` (``?`` and ``*``)."""
        return NodeFilterName(self, pattern, ignorecase)

    def has_input(self, var: Any) -> NodeFilter:
        """Operators reading ``var``."""
        return NodeFilterHasInput(self, var)

    def as_list(self) -> list[Any]:
        return list(self)

    def as_unique(self) -> Any:
        """The only node; ``ValueError`` when there are none or several."""
        (node,) = self
        return node

    def as_dict(self) -> dict[str, Any]:
        return collections.OrderedDict((node.name, node) for node in self)

    def as_count(self) -> int:
        return sum(1 for _ in self)


class NodeFilterType(NodeFilter):
    """Nodes that are instances of a node class (see :meth:`NodeFilter.type`)."""

    def __init__(self, node_iter: Any, node_type: type) -> None:
        if not (isinstance(node_type, type) and issubclass(node_type, NetworkNode)):
            raise TypeError(f"bad opr type: {node_type}")
        super().__init__(node_iter)
        self._node_type = node_type

    def __iter__(self) -> Iterator[Any]:
        return (node for node in self._iter if isinstance(node, self._node_type))


class NodeFilterNotType(NodeFilterType):
    """Nodes that are not instances of a node class."""

    def __iter__(self) -> Iterator[Any]:
        return (node for node in self._iter if not isinstance(node, self._node_type))


class NodeFilterCheckType(NodeFilterType):
    """All nodes, raising ``TypeError`` on one of another class."""

    def __iter__(self) -> Iterator[Any]:
        for node in self._iter:
            if not isinstance(node, self._node_type):
                raise TypeError(f"all nodes should be {self._node_type}; got {node!r}")
            yield node


class NodeFilterHasInput(NodeFilter):
    """Operators with a given input var."""

    def __init__(self, node_iter: Any, var: Any) -> None:
        super().__init__(node_iter)
        self.var = as_varnode(var)

    def __iter__(self) -> Iterator[Any]:
        for node in self._iter:
            if not isinstance(node, OpNode):
                raise TypeError(f"has_input() must be used with OpNode; got {node!r}")
            if any(self.var is v for v in node.inputs):
                yield node


class NodeFilterName(NodeFilter):
    """Nodes whose name matches a glob pattern."""

    def __init__(self, node_iter: Any, pattern: str, ignorecase: bool) -> None:
        super().__init__(node_iter)
        self.pattern = pattern
        self._re = self.make_re(pattern, ignorecase)

    @classmethod
    def make_re(cls, pattern: str, ignorecase: bool = True) -> re.Pattern[str]:
        if not isinstance(pattern, str):
            raise TypeError(f"bad pattern: {pattern!r}")
        return re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignorecase else 0)

    def __iter__(self) -> Iterator[Any]:
        return (node for node in self._iter
                if node.name is not None and (node.name == self.pattern
                                              or self._re.match(node.name)))

