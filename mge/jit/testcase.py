"""Models that test themselves: MegEngine's test-case container (``mgbtest0``).

``trace.dump(..., input_data=[...])`` and the ``dump_with_testcase`` tool write a model
together with inputs and expected outputs; ``load_and_run`` runs it and checks it.
The layout is MegEngine 1.13's::

    b"mgbtest0" | uint32 number of cases | model (FBS_V2) | case 0 (FBS_V2) | case 1 | ...

Every FBS_V2 blob is size-prefixed. A case is a graph of unnamed ``SharedDeviceTensor``
constants, one per model input in sorted input-name order. Unless ``no_assert``, each
model output ``out`` is checked: the model gets an input ``out:expect`` (its value is in
every case, like any input) and ``AssertEqual(out:expect, out)`` replaces the output.

Example:
    >>> builder = TestcaseBuilder(graph, ["data:cat.jpg", "#rand(0,255)"])  # doctest: +SKIP
    >>> checked = builder.finish(optimized_graph)                         # doctest: +SKIP
    >>> data = builder.pack(dump_graph(checked)[0], checked)              # doctest: +SKIP
    >>> load_testcase_model(io.BytesIO(data)).cases[1]["out:expect"]      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import struct
import warnings
from collections.abc import Callable, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from ..graph.interpreter import Executor
from ..graph.ir import Graph, Host2DeviceCopy, VarNode
from ..ops.utility import AssertEqual
from ..serialization.fbs import (
    DType,
    Metadata,
    MgeFormatError,
    ModelFile,
    Operator,
    OutputVar,
    TensorValue,
    VarInfo,
    read_model,
    write_model,
)
from ..serialization.mge_graph import ValueDependentModel, graph_from_bytes
from ..serialization.mge_staged import StagedModel
from .input_data import InputDataError, ReadOptions, expand_specs, read_case

TESTCASE_MAGIC = b"mgbtest0"
_SOURCE_TYPES = ("SharedDeviceTensor", "ImmutableTensor", "VolatileSharedDeviceTensor")


def expect_name(output_name: str) -> str:
    """Name of the input that holds the expected value of output ``output_name``."""
    return f"{output_name}:expect"


class AssertCheck(NamedTuple):
    """An ``AssertEqual`` on a model output: its name, its expect input, and the op's params."""

    output: str
    expect: str
    maxerr: float
    verbose: bool


# ------------------------------------------------------------------------------ asserts
def insert_asserts(graph: Graph, *, maxerr: float = 1e-4, verbose: bool = True) -> Graph:
    """A copy of ``graph`` whose outputs are checked by ``AssertEqual`` against new inputs.

    Output ``out`` gets an input ``out:expect`` of its shape and dtype; the new output is
    named ``assert_eq(out:expect,out)`` as MegEngine names it.

    Example:
        >>> from mge.ops import Elemwise
        >>> g = Graph()
        >>> (y,) = g.add_op(Elemwise(mode="RELU"), [g.add_input("x", (2,), "float32")])
        >>> y.name = "y"
        >>> g.outputs = [y]
        >>> [v.name for v in insert_asserts(g).inputs]
        ['x', 'y:expect']
        >>> split_asserts(insert_asserts(g))[1]
        [AssertCheck(output='y', expect='y:expect', maxerr=0.0001, verbose=True)]
    """
    g = graph.copy()
    names = [v.name for v in g.outputs]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"outputs need distinct names to be checked, got {names}")
    taken = {v.name for v in g.inputs}
    checked = []
    for out in g.outputs:
        name = expect_name(out.name)
        if name in taken:
            raise ValueError(f"the model already has an input named {name!r}")
        expect = g.add_input(name, out.shape, out.dtype)
        (res,) = g.add_op(AssertEqual(maxerr=float(maxerr), verbose=verbose), [expect, out])
        res.name = f"assert_eq({name},{out.name})"
        checked.append(res)
    g.outputs = checked
    return g


def split_asserts(graph: Graph) -> tuple[Graph, list[AssertCheck | None]]:
    """A copy of ``graph`` with every ``AssertEqual`` output replaced by the var it checks.

    The ``:expect`` inputs are dropped from the copy's inputs; the checks come back, one
    per output (None for outputs that are not checked).
    """
    g = graph.copy()
    checks: list[AssertCheck | None] = []
    outputs: list[VarNode] = []
    expects = set()
    for k, out in enumerate(g.outputs):
        op = out.owner.op
        if not isinstance(op, AssertEqual):
            outputs.append(out)
            checks.append(None)
            continue
        expect, get = out.owner.inputs
        if not expect.is_input:
            raise ValueError(f"output {k}: AssertEqual expects a graph input, got {expect!r}")
        suffix = expect_name("")
        if expect.name and expect.name.endswith(suffix):  # the name survives keep_var_name=0
            get.name = expect.name[:-len(suffix)]
        get.name = get.name or f"output_{k}"
        outputs.append(get)
        expects.add(expect.id)
        checks.append(AssertCheck(get.name, expect.name or "", op.maxerr, op.verbose))
    g.outputs = outputs
    g.inputs = [v for v in g.inputs if v.id not in expects]
    return g, checks


def _drop_error_vars(model: ModelFile) -> bool:
    """Drop the error input MegEngine passes to ``AssertEqual`` (mge recomputes it) and the
    operators that only computed it; False when there is nothing to drop."""
    file_name = AssertEqual.mge_form.file
    asserts = [op for op in model.operators if op.type == file_name and len(op.inputs) == 3]
    if not asserts:
        return False
    for op in asserts:
        op.inputs = op.inputs[:2]
    _keep_needed(model)
    return True


def _keep_needed(model: ModelFile) -> None:
    """Drop the operators no model output needs, numbering the vars again."""
    producer = {v: k for k, op in enumerate(model.operators) for v in op.outputs}
    needed: set[int] = set()
    stack = [producer[o.var_id] for o in model.outputs]
    while stack:
        k = stack.pop()
        if k not in needed:
            needed.add(k)
            stack += [producer[v] for v in model.operators[k].inputs]
    ids: dict[int, int] = {}
    operators, infos = [], []
    for k, op in enumerate(model.operators):
        if k not in needed:
            continue
        for v in op.outputs:
            ids[v] = len(ids)
            if model.vars is not None:
                infos.append(model.vars[v])
        operators.append(dataclasses.replace(
            op, inputs=[ids[v] for v in op.inputs], outputs=[ids[v] for v in op.outputs]))
    model.operators = operators
    model.vars = infos if model.vars is not None else None
    model.outputs = [OutputVar(ids[o.var_id], o.original_id) for o in model.outputs]
    model.nr_shared_tensor = None


def _strip_file_asserts(model: ModelFile) -> list[AssertCheck | None]:
    """:func:`split_asserts` on the file itself (for models read in stages, which have no
    one static graph): each ``AssertEqual`` output becomes the var it checks, its expect
    input goes; the checks, one per output."""
    producer = {v: op for op in model.operators for v in op.outputs}
    checks: list[AssertCheck | None] = []
    outputs = []
    for k, out in enumerate(model.outputs):
        op = producer.get(out.var_id)
        if op is None or op.type != AssertEqual.mge_form.file or len(op.inputs) < 2:
            outputs.append(out)
            checks.append(None)
            continue
        expect, get = op.inputs[:2]
        source = producer.get(expect)
        if source is None or source.type != "Host2DeviceCopy":
            raise MgeFormatError("<test case>", f"output {k}: AssertEqual expects a model "
                                 f"input, got {source.type if source else 'nothing'}")
        expect_as = (source.tensors[0].name if source.tensors else None) \
            or model.var_name(expect) or ""
        suffix = expect_name("")
        name = expect_as[:-len(suffix)] if expect_as.endswith(suffix) else \
            model.var_name(get) or f"output_{k}"
        if model.vars is not None:
            model.vars[get] = dataclasses.replace(model.vars[get], name=name)
        fields = op.param(AssertEqual.mge_form.params[0]) if op.params else {}
        checks.append(AssertCheck(name, expect_as, float(fields.get("maxerr", 1e-4)),
                                  bool(fields.get("verbose", False))))
        outputs.append(OutputVar(get, out.original_id))
    model.outputs = outputs
    _keep_needed(model)
    return checks


# ------------------------------------------------------------------------------ container
def is_testcase_file(data: bytes) -> bool:
    """Whether ``data`` starts like a test-case container."""
    return data[:8] == TESTCASE_MAGIC


def case_blob(values: Sequence[np.ndarray]) -> bytes:
    """One test case as MegEngine writes it: a graph of unnamed ``SharedDeviceTensor`` s."""
    operators, infos = [], []
    for k, value in enumerate(values):
        arr = np.ascontiguousarray(value)
        arr = arr.reshape(arr.shape or (1,))  # MegEngine has no 0-d tensors
        t = TensorValue(tuple(arr.shape), DType.from_numpy(arr.dtype), arr, comp_node="cpux:0")
        operators.append(Operator(type="SharedDeviceTensor", tensors=[t], outputs=[k]))
        # MegEngine's var and opr numbering in the graph it dumps (const k: opr 2k, var 2k+1)
        infos.append(VarInfo(name=f"shared[{2 * k}]", shape=tuple(arr.shape)))
    outputs = [OutputVar(k, 2 * k + 1) for k in range(len(values))]
    return write_model(ModelFile(operators=operators, outputs=outputs, vars=infos,
                                 metadata=Metadata(is_valid=False, user_info=b"")))


def pack_testcases(model: bytes, cases: Sequence[Sequence[np.ndarray]]) -> bytes:
    """The container bytes: header, ``model`` (an FBS_V2 dump), one blob per case."""
    blobs = [case_blob(values) for values in cases]
    return b"".join([TESTCASE_MAGIC, struct.pack("<I", len(cases)), model, *blobs])


def _blobs(data: bytes, source: str) -> list[bytes]:
    """The model blob and the case blobs of a container."""
    if len(data) < 12:
        raise MgeFormatError(source, "truncated test-case header")
    (count,) = struct.unpack_from("<I", data, 8)
    blobs, offset = [], 12
    while offset + 4 <= len(data) and len(blobs) <= count:
        (size,) = struct.unpack_from("<I", data, offset)
        blobs.append(data[offset:offset + 4 + size])
        offset += 4 + size
    if len(blobs) != count + 1 or offset != len(data):
        found = max(len(blobs) - 1, 0)
        raise MgeFormatError(source, f"the header announces {count} test cases; the file holds "
                             f"{found} and {len(data)} bytes, not {offset}")
    return blobs


def read_case_blob(blob: bytes, source: str) -> list[np.ndarray]:
    """The values of one case blob, in output order."""
    model = read_model(blob, source)
    values: dict[int, np.ndarray] = {}
    for op in model.operators:
        if op.type not in _SOURCE_TYPES:
            raise MgeFormatError(source, f"a test case holds operator {op.type}, "
                                 "only constant tensors are expected")
        for var, t in zip(op.outputs, op.tensors, strict=False):
            if t.data is None or t.dtype is None or t.dtype.numpy is None:
                raise MgeFormatError(source, f"test-case tensor {var} has no plain data")
            values[var] = t.data.astype(t.dtype.numpy.newbyteorder("="), copy=False)
    try:
        return [values[o.var_id] for o in model.outputs]
    except KeyError as exc:
        raise MgeFormatError(source, f"test-case output var {exc} is not a tensor") from None


@dataclasses.dataclass
class TestcaseModel:
    """A loaded test-case file (or a plain model: no cases, no checks).

    Attributes:
        graph: the model with its checks taken off (``split_asserts``); inputs are the
            model's own, outputs the checked values.
        checks: per output, its :class:`AssertCheck` (None: not checked).
        cases: per case, every input's value by name, ``:expect`` values included.
        metadata: the model's metadata.
        model: the model blob (FBS_V2 bytes).
        staged: a model whose shapes depend on input values (``nms``, ``cond_take``),
            read in stages; then ``graph`` holds only its inputs and ``model`` is the
            blob with its checks taken off.
    """

    __test__ = False  # not a pytest class

    graph: Graph
    checks: list[AssertCheck | None]
    cases: list[dict[str, np.ndarray]]
    metadata: Metadata
    model: bytes
    staged: StagedModel | None = None


def load_testcase_model(file: str | os.PathLike | IO[bytes]) -> TestcaseModel:
    """Read a test-case container (or a plain ``.mge`` file) written by MegEngine or mge.

    Example:
        >>> model = load_testcase_model("resnet18.mgbtest")     # doctest: +SKIP
        >>> model.checks[0].output, sorted(model.cases[0])      # doctest: +SKIP
        ('logits', ['data', 'logits:expect'])

    Raises:
        MgeFormatError: the file is malformed; the message names the file and the problem.
    """
    if isinstance(file, (str, os.PathLike)):
        source = os.fspath(file)
        with open(file, "rb") as f:
            data = f.read()
    else:
        source = getattr(file, "name", "<file>")
        data = file.read()
    blobs = _blobs(data, source) if is_testcase_file(data) else [data]
    model = read_model(blobs[0], source)
    try:
        if _drop_error_vars(model):
            loaded = graph_from_bytes(write_model(model), source)
        else:
            loaded = graph_from_bytes(blobs[0], source)
    except ValueDependentModel:
        return _staged_testcase_model(model, blobs, source)
    names = sorted(v.name for v in loaded.graph.inputs)
    cases = _read_cases(blobs, names, source)
    graph, checks = split_asserts(loaded.graph)
    return TestcaseModel(graph, checks, cases, loaded.metadata, blobs[0])


def _staged_testcase_model(model: ModelFile, blobs: list[bytes], source: str
                           ) -> TestcaseModel:
    """A test-case container (or plain file) whose model is read in stages."""
    names = sorted(name for name, *_ in StagedModel(model, source).inputs)
    cases = _read_cases(blobs, names, source)
    checks = _strip_file_asserts(model)
    staged = StagedModel(model, source)
    graph = Graph()
    for name, _, shape, dtype in staged.inputs:
        graph.add_input(name, shape, dtype)
    metadata = model.metadata or Metadata(is_valid=False, user_info=b"")
    return TestcaseModel(graph, checks, cases, metadata, write_model(model), staged)


def _read_cases(blobs: list[bytes], names: list[str], source: str
                ) -> list[dict[str, np.ndarray]]:
    """Every case's input values by name (``names``: the model inputs, sorted)."""
    cases = []
    for k, blob in enumerate(blobs[1:]):
        values = read_case_blob(blob, f"{source} (test case {k})")
        if len(values) != len(names):
            raise MgeFormatError(source, f"test case {k} has {len(values)} values for the "
                                 f"{len(names)} model inputs {names}")
        cases.append(dict(zip(names, values, strict=True)))
    return cases


# ------------------------------------------------------------------------------ building
class TestcaseBuilder:
    """Make test cases for ``graph`` (named inputs and outputs) from case specs.

    The inputs are read with :mod:`mge.jit.input_data` (``@file`` items expanded); unless
    ``no_assert`` the expected outputs are computed by running ``graph`` (run it before
    optimizing, so that the checks compare the optimized model with the original).

    Args:
        graph: the model.
        input_data: case specs, one per case (a single string is one case).
        repeat, resize_input, input_transform: how file data is read.
        specialize: ``specialize(graph, {input name: shape}) -> graph`` rebuilding the
            model for other input shapes (:func:`mge.runtime.specialize.specialize`).
            Given, data of an input's rank but another shape is taken (``repeat`` makes
            a larger batch, as in MegEngine) and the expected outputs are computed at the
            data's shapes; without it the data must have the inputs' shapes.
        silent: the checks print nothing when run (``AssertEqual.verbose`` off).
        no_assert: store inputs only; add no checks.
        maxerr: largest error a check accepts.
        backend: backend that computes the expected outputs (default: the process's).

    Example:
        >>> builder = TestcaseBuilder(graph, ["#rand(0,1)", "data:x.npy"])  # doctest: +SKIP
        >>> sorted(builder.cases[1])                                        # doctest: +SKIP
        ['data', 'out:expect']
    """

    __test__ = False  # not a pytest class

    def __init__(self, graph: Graph, input_data: str | Sequence[str], *, repeat: int = 1,
                 silent: bool = False, no_assert: bool = False, maxerr: float = 1e-4,
                 resize_input: bool = False, input_transform: str | None = None,
                 backend: Any = None,
                 specialize: Callable[[Graph, dict[str, tuple[int, ...]]], Graph] | None = None
                 ) -> None:
        specs = expand_specs([input_data] if isinstance(input_data, str) else input_data)
        if not specs:
            raise InputDataError("input_data gives no test case")
        inputs = {v.name: (v.shape, v.dtype) for v in _used_inputs(graph)}
        options = ReadOptions(repeat, resize_input, input_transform,
                              fixed_shape=specialize is None)
        self.cases = [read_case(spec, inputs, options) for spec in specs]
        self.no_assert = no_assert
        self.maxerr = maxerr
        self.verbose = not silent
        if no_assert:
            return
        executor = Executor(graph, backend)
        for case in self.cases:  # a 0-d input's data is (1,), as the file holds it
            feeds = {k: v.reshape(inputs[k][0]) if inputs[k][0] == () else v
                     for k, v in case.items()}
            other = {k: v.shape for k, v in feeds.items() if v.shape != inputs[k][0]}
            for k, shape in other.items():
                if shape[1:] != tuple(inputs[k][0])[1:]:  # MegEngine's warning
                    warnings.warn(f"input {k!r}: the data has shape {shape}, the model "
                                  f"takes {tuple(inputs[k][0])}; it runs at the data's shape",
                                  stacklevel=2)
            run = executor if not other or specialize is None else \
                Executor(specialize(graph, other), backend)
            outputs = run.run(**feeds)
            for var, value in zip(graph.outputs, outputs, strict=True):
                case[expect_name(var.name)] = value

    def finish(self, graph: Graph) -> Graph:
        """``graph`` with its checks inserted (unchanged with ``no_assert``)."""
        if self.no_assert:
            return graph
        return insert_asserts(graph, maxerr=self.maxerr, verbose=self.verbose)

    def pack(self, model: bytes, graph: Graph) -> bytes:
        """The container of ``model`` (the dump of ``graph``, as :meth:`finish` returned it)."""
        names = sorted(v.name for v in _used_inputs(graph))
        missing = [n for n in names if n not in self.cases[0]]
        if missing:
            raise ValueError(f"the test cases have no values for inputs {missing}")
        return pack_testcases(model, [[case[n] for n in names] for case in self.cases])


def _used_inputs(graph: Graph) -> list[VarNode]:
    """The graph inputs the outputs depend on (what a dump stores), in graph order."""
    used = {node.outputs[0].id for node in graph.ops() if isinstance(node.op, Host2DeviceCopy)}
    return [v for v in graph.inputs if v.id in used]


__all__ = [
    "TESTCASE_MAGIC", "AssertCheck", "TestcaseBuilder", "TestcaseModel", "case_blob",
    "expect_name", "insert_asserts", "is_testcase_file", "load_testcase_model",
    "pack_testcases", "read_case_blob", "split_asserts",
]
