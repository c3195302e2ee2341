"""``trace.dump``: write a traced function as a MegEngine ``.mge`` file (FBS_V2, or v1 FBS).

The rules are MegEngine 1.13's: the trace must use ``capture_as_const=True`` and return
tensors; inputs are named ``arg_0, arg_1, ...`` (keyword tensors by their keyword)
unless ``arg_names`` is given; dict outputs are named by their sorted keys; options
are the ``enable_*`` keywords of :func:`mge.graph.passes.optimize_for_inference`
(unknown ones raise ``ValueError``; with ``optimize_for_inference=False`` they are
ignored with a warning); metadata records ``user_info`` (pickled) and the optimize
options as ``GraphOptimizeOptions`` bits.

Example:
    >>> @trace(symbolic=True, capture_as_const=True)      # doctest: +SKIP
    ... def pred(data, *, net):
    ...     return net(data)
    >>> pred(data, net=net)                               # doctest: +SKIP
    >>> pred.dump("model.mge", arg_names=["data"],      # doctest: +SKIP
    ...           enable_fuse_conv_bias_nonlinearity=True)
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Sequence
from typing import IO, Any, Protocol

from ..graph import passes
from ..graph.ir import ConstOp, Graph, Host2DeviceCopy, VarNode
from ..ops.nn import BatchNormForward
from ..serialization.fbs import Metadata
from ..serialization.mge_graph import CompGraphDumpResult, dump_graph
from ..utils.atomic_file import write_file
from .megbrain_form import megbrain_form
from .shape_reads import ShapeRead, add_guards, copy_with_reads, split_reads
from .testcase import TestcaseBuilder


class TracedFunction(Protocol):
    """What :func:`dump_trace` reads from a :class:`~mge.jit.trace.trace` (which calls it)."""

    _capture_as_const: bool

    @property
    def graph(self) -> Graph: ...

    @property
    def traced(self) -> bool: ...

    @property
    def input_bindings(self) -> list[tuple[str | int, VarNode]]: ...

    @property
    def output_names(self) -> tuple[str, ...] | None: ...

    @property
    def op_base_names(self) -> dict[int, str]: ...

    @property
    def live_vars(self) -> frozenset[int]: ...

    @property
    def shape_reads(self) -> list[ShapeRead]: ...


def _names(given: str | Sequence[str | None] | None, count: int, what: str) -> list[str] | None:
    if given is None:
        return None
    names = [given] if isinstance(given, str) else [n if n is not None else "" for n in given]
    if len(names) != count:
        raise ValueError(f"wrong number of {what}, should be {count} values")
    return names


def _check_no_live_values(traced: TracedFunction) -> None:
    live = traced.live_vars
    read = [v for node in traced.graph.ops() for v in node.inputs] + list(traced.graph.outputs)
    if any(v.id in live for v in read):
        raise ValueError(
            "cannot dump: the graph reads a value computed outside the recording on every "
            "call (exclude_from_trace, or F.vision.nms whose kept count is data); the file "
            "would hold the traced call's value")


def _check_inference_only(traced: TracedFunction) -> None:
    for node in traced.graph.ops():
        op = node.op
        if isinstance(op, BatchNormForward) and op.params().get("fwd_mode") != "INFERENCE":
            raise ValueError(
                "cannot dump BatchNorm in training mode: call net.eval() before tracing")


def dump_trace(
    traced: TracedFunction,
    file: str | IO[bytes],
    *,
    arg_names: str | Sequence[str | None] | None = None,
    output_names: str | Sequence[str] | None = None,
    append: bool = False,
    keep_var_name: int = 1,
    keep_opr_name: bool = False,
    keep_param_name: bool = False,
    keep_opr_priority: bool = False,
    no_change_graph: bool = False,
    optimize_for_inference: bool = True,
    user_info: Any = None,
    enable_metadata: bool = True,
    dump_format: str | None = None,
    model_version: int = 2,
    input_data: str | Sequence[str] | None = None,
    repeat: int = 1,
    silent: bool = False,
    no_assert: bool = False,
    maxerr: float = 1e-4,
    resize_input: bool = False,
    input_transform: str | None = None,
    **kwargs: Any,
) -> CompGraphDumpResult:
    """Serialize ``traced`` to ``file`` (a path or a binary file object).

    A path is written atomically (:mod:`mge.utils.atomic_file`): an interrupted dump
    leaves the previous file, never a partial one.

    Args:
        arg_names: names of the tensor arguments (default ``arg_0``... and keywords).
        output_names: names of the outputs (not allowed when the function returns a dict).
        append: append to ``file`` when it is a path.
        keep_var_name: 0: no var names, 1: names of inputs, outputs and constants,
            2: all names.
        keep_opr_name: keep operator names.
        keep_param_name: keep names of ``SharedDeviceTensor`` parameters.
        keep_opr_priority: store each operator's id as its priority (MegEngine's
            loaders then list operators in recording order).
        no_change_graph: accepted for compatibility (mge never rewrites ops for
            compatibility).
        optimize_for_inference: run the inference passes with the ``enable_*`` options.
        user_info: any picklable object stored (pickled) in the metadata.
        enable_metadata: write metadata.
        dump_format: ``None`` or ``"FBS_V2"`` (the default), or ``"FBS"`` (MegEngine's
            older v1 format, magic ``MGBC``).
        model_version: FBS_V2 model version (2).
        input_data, repeat, silent, no_assert, maxerr, resize_input, input_transform:
            write a test-case container (``mgbtest0``) with one case per ``input_data``
            spec; see :class:`mge.jit.testcase.TestcaseBuilder`.
        **kwargs: ``enable_*`` optimize options.

    Returns:
        ``CompGraphDumpResult(nr_opr, tot_bytes, tensor_value_bytes, content_hash,
        inputs, outputs, params)``.
    """
    if not traced._capture_as_const:
        raise ValueError("you must specify capture_as_const=True at __init__ to use dump")
    if not traced.traced or not traced.graph.outputs:
        raise ValueError(
            "the traced function without return values cannot be dumped, the traced "
            "function should return List[Tensor] or Dict[str, Tensor]")
    if dump_format not in (None, "FBS_V2", "FBS"):
        raise ValueError(f"dump_format must be 'FBS_V2' or 'FBS', not {dump_format!r}")
    if dump_format == "FBS" and input_data is not None:
        raise ValueError("test cases (input_data) are packed with FBS_V2 models only, "
                         "not dump_format='FBS'")
    unknown = sorted(set(kwargs) - set(passes.OPTION_NAMES))
    if unknown:
        raise ValueError(f"unknown options: {unknown}")
    if not optimize_for_inference:
        ignored = sorted(k for k, v in kwargs.items() if v)
        if ignored:
            warnings.warn(f"optimize_for_inference=False: options {ignored} are ignored",
                          stacklevel=3)
        kwargs = {}
    if traced.output_names and output_names:
        raise TypeError("cannot specify output_names when output is already in dict format")
    _check_inference_only(traced)
    _check_no_live_values(traced)

    reads = traced.shape_reads  # values Python read while tracing: guarded below
    graph = megbrain_form(copy_with_reads(traced.graph, reads), traced.op_base_names,
                          getattr(traced, "opt_level", 2))
    read_vars = split_reads(graph, reads)
    bindings = traced.input_bindings
    names = _names(arg_names, len([b for b in bindings if isinstance(b[0], int)]), "arg_names")
    positional = [v for (where, _), v in zip(bindings, graph.inputs, strict=True)
                  if isinstance(where, int)]
    for var, name in zip(positional, names or [], strict=False):
        var.name = name
    outs = _names(output_names, len(graph.outputs), "output_names") or traced.output_names
    for k, var in enumerate(graph.outputs):
        if outs and outs[k]:
            var.name = outs[k]
        elif not var.name:
            var.name = f"output_{k}"
    graph = add_guards(graph, reads, read_vars)

    cases = None if input_data is None else TestcaseBuilder(
        graph, input_data, repeat=repeat, silent=silent, no_assert=no_assert, maxerr=maxerr,
        resize_input=resize_input, input_transform=input_transform)
    options = 0
    if optimize_for_inference:
        graph, options = passes.optimize_for_inference(graph, **kwargs)
    if keep_opr_priority:  # MegEngine's _set_priority_to_id: operators run in id order
        for node in graph.ops():
            if node.priority == 0 and not isinstance(node.op, (Host2DeviceCopy, ConstOp)):
                node.priority = node.id
    graph = graph if cases is None else cases.finish(graph)
    metadata = None
    if enable_metadata:
        metadata = Metadata(is_valid=True, graph_modified=False, optimize_options=options,
                            user_info=pickle.dumps(user_info))
    data, info = dump_graph(graph, keep_var_name=keep_var_name, keep_opr_name=keep_opr_name,
                            keep_param_name=keep_param_name, metadata=metadata,
                            model_version=model_version, dump_format=dump_format)
    data = data if cases is None else cases.pack(data, graph)
    if isinstance(file, (str, os.PathLike)):
        write_file(file, data, append=append)
    else:
        file.write(data)
    return info


__all__ = ["dump_trace"]
