"""``jit.trace``: record an eager function as a static graph, replay it, dump it.

The first call runs the function eagerly while an ``apply`` observer records every op
into a :class:`~mge.graph.Graph` (shapes are concrete, so the graph is fully static).
The function's tensor arguments become graph inputs; constants made from Python values
(``x + 1``) become constants; any other tensor an op reads (parameters) becomes a
constant snapshot when ``capture_as_const=True``, or a graph input ``__external_<k>``
otherwise. Distinct tensors always stay distinct constants (never merged).

Every later call runs the Python function again, as MegEngine 1.13 does, and checks each
op against the recorded steps (:mod:`mge.jit.trace_check`): where the function now takes
another branch, uses another constant, or reads a captured value that changed,
``TraceError`` is raised; an exception of the function itself propagates. A result is
never a stale recording's.
Later calls of a function whose traced call trained (ran ``GradManager.backward``)
run eagerly without the check: its in-place parameter updates are not part of the graph.

Example:
    >>> import mge, mge.functional as F
    >>> @trace(symbolic=True, capture_as_const=True)
    ... def f(x):
    ...     return F.relu(x) * 2
    >>> f(mge.tensor([-1.0, 3.0])).numpy()
    array([0., 6.], dtype=float32)
    >>> f(mge.tensor([2.0, -5.0])).numpy()   # runs again, checked against the recording
    array([4., 0.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import IO, Any

from ..core._trace_option import set_symbolic_shape
from ..core.apply import (
    add_observer,
    add_value_hook,
    is_constant,
    observing,
    remove_observer,
    remove_value_hook,
)
from ..core.autodiff.grad import backward_passes
from ..core.complex import ComplexTensor
from ..core.opdef import OpDef
from ..core.tracing import active_call_tracer, call_tracer, observe_value_reads
from ..graph.ir import Graph, VarNode
from ..graph.static_values import source_count
from ..ops.shape import GetVarShape
from ..tensor import Tensor
from .dump import dump_trace
from .graph_rng import GraphDraws
from .inplace_arith import InplaceArith
from .naming import OpNamer, qualified_tensor_names
from .shape_reads import ShapeRead, ShapeReadLog
from .trace_check import (
    CallChecker,
    OpProfile,
    RecordedVar,
    Step,
    TensorVars,
    TraceError,
    VarKind,
    excluded,
    tracing_call,
)


def _flatten(obj: Any, leaves: list[Any]) -> Callable[[list[Any]], Any]:
    """Collect the Tensor leaves of nested lists/tuples/dicts; return a rebuild function."""
    if isinstance(obj, Tensor):
        k = len(leaves)
        leaves.append(obj)
        return lambda values: values[k]
    if isinstance(obj, (list, tuple)):
        parts = [_flatten(x, leaves) for x in obj]
        kind = type(obj)
        if kind in (list, tuple):
            return lambda values: kind(p(values) for p in parts)
        return lambda values: kind(*(p(values) for p in parts))  # namedtuple
    if isinstance(obj, dict):
        keyed = [(key, _flatten(v, leaves)) for key, v in obj.items()]
        return lambda values: {key: p(values) for key, p in keyed}
    return lambda values: obj


def _refuse_complex(t: Tensor) -> None:
    """A complex tensor may live inside a traced function, never cross its boundary
    (MegEngine 1.13 refuses it the same way: its graphs hold float32 parts only)."""
    if isinstance(t, ComplexTensor):
        raise RuntimeError("unsupported op for complex: a complex tensor cannot be an input or "
                           "output of a traced function; pass or return F.real(z) and F.imag(z)")


class _Recorder:
    """The ``apply`` observer that builds the graph and the step list during the first call."""

    def __init__(self, capture_as_const: bool, modules: list[Any]) -> None:
        self.graph = Graph()
        self.capture_as_const = capture_as_const
        # parameters and buffers of the modules passed in get their attribute paths as names
        self.param_names = {k: name for m in modules
                            for k, name in qualified_tensor_names(m).items()}
        self.tensors = TensorVars()
        self.from_excluded = TensorVars()  # made inside exclude_from_trace
        self.steps: list[Step] = []
        self.variables: dict[int, RecordedVar] = {}
        self.namer = OpNamer(self.param_names)
        #: vars that depend on input values (not only on input shapes, as GetVarShape's)
        self.from_values: set[int] = set()
        #: shape-derived values Python read (guarded in a dump)
        self.shape_reads = ShapeReadLog(self.tensors)

    def bind_input(self, t: Tensor, var: VarNode) -> None:
        self.tensors.bind(t, var)
        self.variables[var.id] = RecordedVar(VarKind.EXTERNAL, var.dtype)
        self.from_values.add(var.id)

    def var_of(self, t: Tensor) -> VarNode:
        var = self.tensors.get(t)
        if var is not None:
            return var
        _refuse_complex(t)
        constant = is_constant(t)
        if constant or self.capture_as_const:
            value = t.numpy()
            var = self.graph.add_const(value, name=self.param_names.get(id(t)) or t.name)
            kind = VarKind.CONSTANT if constant else VarKind.EXTERNAL
            live = self.from_excluded.get(t) is not None  # recomputed on every call
            self.variables[var.id] = RecordedVar(kind, var.dtype, None if live else var.value,
                                                 excluded=live)
        else:
            var = self.graph.add_input(f"__external_{len(self.graph.inputs)}", t.shape, t.dtype)
            self.variables[var.id] = RecordedVar(VarKind.EXTERNAL, var.dtype,
                                                 excluded=self.from_excluded.get(t) is not None)
            self.from_values.add(var.id)
        self.tensors.bind(t, var)
        return var

    def __call__(self, op: OpDef, inputs: tuple, outputs: tuple) -> None:
        if excluded():
            for t in outputs:
                self.from_excluded.bind(t, True)
            return
        in_vars = [self.var_of(t) for t in inputs]
        # a static param computed from input values (not shapes) stays a param, of this
        # call's values: a graph keeps only shape chains as source inputs (known before
        # running). Later calls run eagerly and may use other values (as MegEngine's
        # graph would); a dump holds this call's.
        n = source_count(op, len(in_vars))
        baked = bool(n) and any(v.id in self.from_values for v in in_vars[len(in_vars) - n:])
        out_vars = self.graph.add_op(op, in_vars[:len(in_vars) - n] if baked else in_vars)
        self.namer.name(out_vars[0].owner)
        valued = not isinstance(op, GetVarShape) and any(v.id in self.from_values
                                                         for v in in_vars)
        for t, var in zip(outputs, out_vars, strict=True):
            self.tensors.bind(t, var)
            self.variables[var.id] = RecordedVar(VarKind.INTERNAL, var.dtype)
            if valued:
                self.from_values.add(var.id)
        self.shape_reads.on_op(op, [v.id for v in in_vars], [v.id for v in out_vars], valued,
                               self.from_values)
        self.steps.append(Step(op, tuple(v.id for v in in_vars), tuple(v.id for v in out_vars)))

    def name_vars(self) -> None:
        """Name ops and vars as MegEngine does, then copy the names users gave tensors
        (``t.name = ...``) onto their vars."""
        self.namer.finish()
        for t, var in self.tensors.bound():
            # a module's tensor already has its qualified name (``simple.linear.k``)
            if t.name and not var.is_input and id(t) not in self.param_names:
                var.name = t.name


@dataclasses.dataclass
class _Recording:
    """One recorded graph, its steps, and how calls map onto it."""

    graph: Graph
    args: list[tuple[str | int, VarNode]]  # (position or keyword, input var)
    steps: list[Step]
    variables: dict[int, RecordedVar]
    output_names: tuple[str, ...] | None
    profile: OpProfile | None
    op_base_names: dict[int, str] = dataclasses.field(default_factory=dict)
    shape_reads: list[ShapeRead] = dataclasses.field(default_factory=list)


def _signature(args: tuple, kwargs: dict) -> tuple:
    """What a recording is specific to: where the tensors are, their shapes and dtypes."""
    items = [*enumerate(args), *kwargs.items()]
    return tuple((k, v.shape, v.dtype) for k, v in items if isinstance(v, Tensor))


class trace:  # noqa: N801 - MegEngine's name
    """Wrap ``function`` for tracing; usable as ``@trace`` or ``@trace(symbolic=True, ...)``.

    Args:
        function: the function to trace; it takes Tensors (positional or keyword) and
            any other keyword values (modules, options), and returns a Tensor, a
            sequence of Tensors or a dict ``name -> Tensor``.
        symbolic: MegEngine's symbolic first run; mge records the same graph either way.
            Later calls are checked against the recording of their input shapes and
            dtypes (a call with new ones records a graph of its own; ``graph`` and
            :meth:`dump` keep using the first one).
        capture_as_const: snapshot parameters and other captured tensors as constants
            (needed by :meth:`dump`); later calls raise ``TraceError`` when one changed.
        record_only: implies ``symbolic`` and ``capture_as_const``.
        profiling: time the ops of every call after the recording (:meth:`get_profile`).
        symbolic_shape: while the function runs (recorded or checked), ``x.shape`` in
            its code is a 1-d int32 Tensor read by ``GetVarShape`` (MegEngine's default),
            so reshapes, broadcasts and ``flatten`` built from it follow the input size
            in the graph and in a dumped ``.mge``; False: shapes are tuples, baked in.
        without_host: as MegEngine, refuse (``RuntimeError``) a recording that reads
            tensors other than its arguments unless ``capture_as_const`` snapshots them.
        opt_level: MegBrain's ``graph_opt_level`` (0 to 3, default 2): from 1 on, the
            values of the calls MegEngine runs as a graph (a symbolic first call, every
            later call) and a dumped file follow MegBrain's arithmetic rules
            (:mod:`mge.jit.arith_rules`: ``y / y`` is 1, ``log(exp(x))`` is ``x``...);
            0 keeps the arithmetic as written. Levels 2 and 3 add MegBrain's op fusions
            and JIT, which mge does not model (they rewrite no expression's value).
        sublinear_memory_config, dtr_config, graph_opt_config,
        imperative: MegEngine training/runtime options, accepted for compatibility; they
            do not change what is recorded.

    Example:
        >>> @trace(symbolic=True, capture_as_const=True)
        ... def fun(data, *, net):
        ...     return net(data)
        >>> fun(data, net=net)          # doctest: +SKIP
        >>> fun.dump("model.mge")       # doctest: +SKIP
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not args:
            return functools.partial(cls, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        function: Callable,
        symbolic: bool = False,
        capture_as_const: bool = False,
        record_only: bool = False,
        sublinear_memory_config: Any = None,
        dtr_config: Any = None,
        profiling: bool = False,
        opt_level: int = 2,
        graph_opt_config: Any = None,
        symbolic_shape: bool = True,
        without_host: bool = False,
        imperative: bool = False,
    ) -> None:
        if not callable(function):
            raise TypeError(f"trace needs a callable, got {type(function).__name__}")
        functools.update_wrapper(self, function)
        self.__wrapped__ = function
        self._capture_as_const = capture_as_const or record_only
        self._profiling = profiling
        self._symbolic_shape = bool(symbolic_shape)
        self._without_host = without_host
        self._first: _Recording | None = None
        self._recordings: dict[tuple, _Recording] = {}
        #: a traced call ran a backward pass: the function trains, run it eagerly
        self._trains = False
        #: module arguments' parameters are graph inputs, not captured tensors
        #: (MegEngine's ``flatten_inputs``; set by ``partial_trace``)
        self._module_params_as_inputs = False
        self._symbolic = bool(symbolic or record_only)
        #: random draws of the graph calls (the symbolic first call and later calls)
        self._graph_draws = GraphDraws()
        if opt_level not in (0, 1, 2, 3):
            raise ValueError(f"trace: opt_level must be 0, 1, 2 or 3, got {opt_level!r}")
        self._opt_level = opt_level

    # ---------------------------------------------------------------- properties
    @property
    def _recording(self) -> _Recording:
        if self._first is None:
            raise TraceError(f"{self.__wrapped__.__name__} has not been traced yet; call it")
        return self._first

    @property
    def graph(self) -> Graph:
        """The first recorded graph (inputs: the tensor arguments); ``TraceError`` before."""
        return self._recording.graph

    @property
    def traced(self) -> bool:
        return self._first is not None

    @property
    def live_vars(self) -> frozenset[int]:
        """Ids of the first graph's vars holding values made inside ``exclude_from_trace``
        (or by ``F.vision.nms``): recomputed on every call, so a file cannot hold them."""
        return frozenset(k for k, v in self._recording.variables.items() if v.excluded)

    @property
    def input_bindings(self) -> list[tuple[str | int, VarNode]]:
        """``(position or keyword, input var)`` for each tensor argument, in call order."""
        return list(self._recording.args)

    @property
    def op_base_names(self) -> dict[int, str]:
        """``op id -> automatic name`` of the first graph's ops, before ``[i]`` numbering."""
        return dict(self._recording.op_base_names)

    @property
    def shape_reads(self) -> list[ShapeRead]:
        """The first recording's Python reads of shape-derived values (guarded in a dump,
        see :mod:`mge.jit.shape_reads`)."""
        return list(self._recording.shape_reads)

    @property
    def opt_level(self) -> int:
        """MegBrain's ``graph_opt_level`` for the calls and the dump (default 2)."""
        return self._opt_level

    @property
    def output_names(self) -> tuple[str, ...] | None:
        """Output names when the function returned a dict (sorted keys), else None."""
        return self._recording.output_names

    # ---------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with tracing_call():
            if self._first is None:
                return self._record(args, kwargs)
            # inside another trace or a module tracer, or a training step (its parameter
            # updates are not part of the graph): just run the code
            if observing() or self._trains:
                return self.__wrapped__(*args, **kwargs)
            recording = self._recordings.get(_signature(args, kwargs))
            if recording is None:
                return self._record(args, kwargs)
            return self._checked_call(recording, args, kwargs)

    def get_profile(self) -> dict[str, Any]:
        """Host time per recorded op over the calls after the recording (``profiling=True``).

        Returns ``{"profiler": {"operator": [{"id", "type", "count", "host_time"}, ...],
        "total_host_time": seconds}}`` for the first recording.
        """
        profile = self._recording.profile
        if profile is None:
            raise RuntimeError(f"{self.__wrapped__.__name__}: get_profile() needs "
                               "trace(..., profiling=True)")
        return profile.report()

    def _record(self, args: tuple, kwargs: dict) -> Any:
        modules = [a for a in (*args, *kwargs.values()) if hasattr(a, "named_tensors")]
        recorder = _Recorder(self._capture_as_const, modules)
        graph = recorder.graph
        bindings: list[tuple[str | int, VarNode]] = []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):  # MegEngine names an input after its tensor, if named
                taken = {v.name for v in graph.inputs} | set(kwargs)
                name = a.name if a.name and a.name not in taken else f"arg_{i}"
                _refuse_complex(a)
                var = graph.add_input(name, a.shape, a.dtype)
                recorder.bind_input(a, var)
                bindings.append((i, var))
            elif self._capture_as_const:  # MegEngine's message (argument i is not a Tensor)
                raise TypeError("Only support tensor type args when capture_as_const is enabled")
        for key, value in kwargs.items():
            if isinstance(value, Tensor):
                _refuse_complex(value)
                var = graph.add_input(key, value.shape, value.dtype)
                recorder.bind_input(value, var)
                bindings.append((key, var))
        if self._module_params_as_inputs:
            for m in modules:
                for p in m.parameters():
                    if recorder.tensors.get(p) is None:
                        name = recorder.param_names.get(id(p)) or f"param_{len(graph.inputs)}"
                        recorder.bind_input(p, graph.add_input(name, p.shape, p.dtype))
        passes = backward_passes()
        add_observer(recorder)
        # MegEngine's symbolic first call runs the graph MegBrain built at opt_level
        arith = self._simplify(dedup=False, arguments=[b for b in (*args, *kwargs.values())
                                                       if isinstance(b, Tensor)]) \
            if self._symbolic else nullcontext()
        draws = self._graph_draws.call(_signature(args, kwargs)) if self._symbolic \
            else nullcontext()
        # module scopes name the ops, unless a module tracer (TracedModule) is active
        namer = recorder.namer if active_call_tracer() is None else active_call_tracer()
        old_shape_mode = set_symbolic_shape(self._symbolic_shape)
        try:
            with call_tracer(namer), observe_value_reads(recorder.shape_reads), arith, draws:
                result = self.__wrapped__(*args, **kwargs)
        finally:
            remove_observer(recorder)
            set_symbolic_shape(old_shape_mode)
        # a training step (backward, then in-place updates) is not replayed as a graph:
        # later calls run it eagerly, so its side effects on parameters happen
        self._trains = self._trains or backward_passes() != passes
        leaves: list[Any] = []
        _flatten(result, leaves)
        graph.outputs = [recorder.var_of(t) for t in leaves]
        recorder.name_vars()
        if self._without_host and any(v.name.startswith("__external_") for v in graph.inputs):
            raise RuntimeError(  # MegEngine's message
                "have some unknown input tensors in trace result, maybe you can set "
                "`capture_as_const=True` when trace")
        output_names = None
        if isinstance(result, dict) and all(isinstance(v, Tensor) for v in result.values()):
            keys = list(result)
            output_names = tuple(sorted(keys))  # MegEngine: dict outputs by sorted key
            graph.outputs = [graph.outputs[keys.index(k)] for k in output_names]
        recording = _Recording(graph, bindings, recorder.steps, recorder.variables,
                               output_names,
                               OpProfile(recorder.steps) if self._profiling else None,
                               recorder.namer.base_names, recorder.shape_reads.reads)
        self._recordings[_signature(args, kwargs)] = recording
        if self._first is None:
            self._first = recording
        return result

    def _checked_call(self, rec: _Recording, args: tuple, kwargs: dict) -> Any:
        """Run the function again, checking every op against the recording (MegEngine's way)."""
        checker = CallChecker(rec.steps, rec.variables, {v.id for v in rec.graph.outputs},
                              rec.profile)
        add_observer(checker)
        old_shape_mode = set_symbolic_shape(self._symbolic_shape)
        try:
            with self._simplify(dedup=True), self._graph_draws.call(_signature(args, kwargs)):
                result = self.__wrapped__(*args, **kwargs)
        finally:
            remove_observer(checker)
            set_symbolic_shape(old_shape_mode)
        leaves: list[Any] = []
        _flatten(result, leaves)
        checker.finish(leaves)
        return result

    @contextlib.contextmanager
    def _simplify(self, dedup: bool, arguments: Sequence[Tensor] = ()) -> Iterator[None]:
        """MegBrain's arithmetic simplifications of values at ``opt_level >= 1``
        (:mod:`mge.jit.inplace_arith`) while the function runs."""
        if self._opt_level < 1:
            yield
            return
        arith = InplaceArith(dedup, tuple(arguments))
        add_observer(arith)
        add_value_hook(arith.rewrite)
        try:
            yield
        finally:
            remove_value_hook(arith.rewrite)
            remove_observer(arith)

    # ---------------------------------------------------------------- dumping
    def dump(self, file: str | IO[bytes], **kwargs: Any) -> Any:
        """Write the traced graph as a MegEngine ``.mge`` file (FBS_V2; ``dump_format="FBS"``: v1).

        See :func:`mge.jit.dump.dump_trace` for the arguments and options.
        """
        return dump_trace(self, file, **kwargs)


__all__ = ["TraceError", "trace"]
