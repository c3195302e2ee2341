"""``jit.trace``: record an eager function as a static graph, replay it, dump it.

The first call runs the function eagerly while an ``apply`` observer records every op
into a :class:`~mge.graph.Graph` (shapes are concrete, so the graph is fully static).
The function's tensor arguments become graph inputs; any other tensor an op reads
(parameters, constants created in the function) becomes a constant snapshot when
``capture_as_const=True``, or a live reference read again on every replay otherwise.
Distinct tensors always stay distinct constants (never merged).

With ``symbolic=True`` later calls run the recorded graph (after checking the inputs'
shapes and dtypes); with ``symbolic=False`` they run the function eagerly again, and so
do later calls of a function whose traced call trained (ran ``GradManager.backward``):
its in-place parameter updates are not part of the graph.

Example:
    >>> import mge, mge.functional as F
    >>> @trace(symbolic=True, capture_as_const=True)
    ... def f(x):
    ...     return F.relu(x) * 2
    >>> f(mge.tensor([-1.0, 3.0])).numpy()
    array([0., 6.], dtype=float32)
    >>> f(mge.tensor([2.0, -5.0])).numpy()   # replays the graph
    array([4., 0.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from ..backends import get_backend
from ..core.apply import add_observer, observing, remove_observer
from ..core.autodiff.grad import backward_passes
from ..core.opdef import OpDef
from ..graph.interpreter import Executor
from ..graph.ir import Graph, VarNode
from ..tensor import Tensor
from .dump import dump_trace


class TraceError(RuntimeError):
    """A traced function was called in a way its recorded graph cannot serve."""


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


class _Recorder:
    """The ``apply`` observer that builds the graph during the first call."""

    def __init__(self, capture_as_const: bool, modules: list[Any]) -> None:
        self.graph = Graph()
        self.capture_as_const = capture_as_const
        # parameters and buffers of the modules passed in get their attribute paths as names
        self.param_names = {id(t): name for m in modules for name, t in m.named_tensors()}
        self.externals: list[tuple[VarNode, Tensor]] = []
        self._by_tensor: dict[int, tuple[Tensor, Any, Any, VarNode]] = {}
        self._by_data: dict[int, tuple[Any, VarNode]] = {}

    def bind(self, t: Tensor, var: VarNode) -> None:
        self._by_tensor[id(t)] = (t, t._data, t._backend, var)
        self._by_data[id(t._data)] = (t._data, var)

    def var_of(self, t: Tensor) -> VarNode:
        entry = self._by_tensor.get(id(t))
        if entry is not None and entry[0] is t and (
                entry[1] is t._data or entry[2] is not t._backend):
            return entry[3]
        data_entry = self._by_data.get(id(t._data))
        if data_entry is not None and data_entry[0] is t._data:
            return data_entry[1]  # t was set_value'd to a recorded result
        if self.capture_as_const:
            var = self.graph.add_const(t.numpy(), name=t.name or self.param_names.get(id(t)))
        else:
            var = self.graph.add_input(f"__external_{len(self.externals)}", t.shape, t.dtype)
            self.externals.append((var, t))
        self.bind(t, var)
        return var

    def __call__(self, op: OpDef, inputs: tuple, outputs: tuple) -> None:
        in_vars = [self.var_of(t) for t in inputs]
        for t, var in zip(outputs, self.graph.add_op(op, in_vars), strict=True):
            self.bind(t, var)

    def name_vars(self) -> None:
        """Copy the names users gave tensors (``t.name = ...``) onto their vars."""
        for t, _, _, var in self._by_tensor.values():
            if t.name and not var.is_input:
                var.name = t.name


@dataclasses.dataclass
class _Recording:
    """One recorded graph and how calls map onto it."""

    graph: Graph
    args: list[tuple[str | int, VarNode]]  # (position or keyword, input var)
    static_args: list[Any]  # non-tensor positional args (None where a Tensor was)
    externals: list[tuple[VarNode, Tensor]]
    rebuild: Callable[[list[Any]], Any]
    output_names: tuple[str, ...] | None
    executors: dict[str, Executor] = dataclasses.field(default_factory=dict)


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
        symbolic: later calls replay the recorded graph instead of running Python
            (a call with other input shapes or dtypes records a graph of its own;
            ``graph`` and :meth:`dump` keep using the first one).
        capture_as_const: snapshot parameters and other captured tensors as constants
            (needed by :meth:`dump`).
        record_only: implies ``symbolic`` and ``capture_as_const``.
        sublinear_memory_config, dtr_config, profiling, opt_level, graph_opt_config,
        symbolic_shape, without_host, imperative: MegEngine training/runtime options,
            accepted for compatibility; they do not change what is recorded.

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
        *,
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
        self._symbolic = symbolic or record_only
        self._capture_as_const = capture_as_const or record_only
        self._first: _Recording | None = None
        self._recordings: dict[tuple, _Recording] = {}
        #: a traced call ran a backward pass: the function trains, run it eagerly
        self._trains = False

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
    def input_bindings(self) -> list[tuple[str | int, VarNode]]:
        """``(position or keyword, input var)`` for each tensor argument, in call order."""
        return list(self._recording.args)

    @property
    def output_names(self) -> tuple[str, ...] | None:
        """Output names when the function returned a dict (sorted keys), else None."""
        return self._recording.output_names

    # ---------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._first is None:
            return self._record(args, kwargs)
        if not self._symbolic or observing() or self._trains:
            return self.__wrapped__(*args, **kwargs)
        recording = self._recordings.get(_signature(args, kwargs))
        if recording is None:
            return self._record(args, kwargs)
        return self._replay(recording, args, kwargs)

    def _record(self, args: tuple, kwargs: dict) -> Any:
        modules = [a for a in (*args, *kwargs.values()) if hasattr(a, "named_tensors")]
        recorder = _Recorder(self._capture_as_const, modules)
        graph = recorder.graph
        bindings: list[tuple[str | int, VarNode]] = []
        static_args = []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                var = graph.add_input(f"arg_{i}", a.shape, a.dtype)
                recorder.bind(a, var)
                bindings.append((i, var))
            elif self._capture_as_const:
                raise TypeError(
                    f"{self.__wrapped__.__name__}: with capture_as_const=True positional "
                    f"arguments must be Tensors, argument {i} is {type(a).__name__} "
                    "(pass modules and options by keyword)")
            static_args.append(None if isinstance(a, Tensor) else a)
        for key, value in kwargs.items():
            if isinstance(value, Tensor):
                var = graph.add_input(key, value.shape, value.dtype)
                recorder.bind(value, var)
                bindings.append((key, var))
        passes = backward_passes()
        add_observer(recorder)
        try:
            result = self.__wrapped__(*args, **kwargs)
        finally:
            remove_observer(recorder)
        # a training step (backward, then in-place updates) is not replayed as a graph:
        # later calls run it eagerly, so its side effects on parameters happen
        self._trains = self._trains or backward_passes() != passes
        leaves: list[Any] = []
        rebuild = _flatten(result, leaves)
        graph.outputs = [recorder.var_of(t) for t in leaves]
        recorder.name_vars()
        output_names = None
        if isinstance(result, dict) and all(isinstance(v, Tensor) for v in result.values()):
            keys = list(result)
            output_names = tuple(sorted(keys))  # MegEngine: dict outputs by sorted key
            perm = [keys.index(k) for k in output_names]
            graph.outputs = [graph.outputs[p] for p in perm]
            by_leaf = rebuild
            rebuild = lambda values: by_leaf(  # noqa: E731
                [values[perm.index(i)] for i in range(len(perm))])
        recording = _Recording(graph, bindings, static_args, recorder.externals, rebuild,
                               output_names)
        self._recordings[_signature(args, kwargs)] = recording
        if self._first is None:
            self._first = recording
        return result

    def _replay(self, rec: _Recording, args: tuple, kwargs: dict) -> Any:
        name = self.__wrapped__.__name__
        if len(args) != len(rec.static_args):
            raise TraceError(
                f"{name} was traced with {len(rec.static_args)} positional arguments, "
                f"called with {len(args)}")
        for i, (a, traced_value) in enumerate(zip(args, rec.static_args, strict=True)):
            if not isinstance(a, Tensor) and not _same(a, traced_value):
                raise TraceError(f"{name}: argument {i} differs from the traced value")
        backend = get_backend()
        feeds: dict[int, Any] = {}
        for where, var in rec.args:
            value = args[where] if isinstance(where, int) else kwargs[where]
            feeds[var.id] = value._array_on(backend)
        for var, t in rec.externals:
            if t.shape != var.shape or t.dtype != var.dtype:
                raise TraceError(
                    f"{name}: captured tensor {var.name} changed shape or dtype since tracing")
            feeds[var.id] = t._array_on(backend)
        executor = rec.executors.get(backend.name)
        if executor is None:
            executor = rec.executors[backend.name] = Executor(rec.graph, backend)
        arrays = executor.run_arrays(feeds)
        device = next((t.device for t in args if isinstance(t, Tensor)), None)
        outs = [Tensor._wrap(a, v.shape, v.dtype, backend, device)
                for a, v in zip(arrays, rec.graph.outputs, strict=True)]
        return rec.rebuild(outs)

    # ---------------------------------------------------------------- dumping
    def dump(self, file: str | IO[bytes], **kwargs: Any) -> Any:
        """Write the traced graph as a MegEngine ``.mge`` file (FBS_V2).

        See :func:`mge.jit.dump.dump_trace` for the arguments and options.
        """
        return dump_trace(self, file, **kwargs)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(np.all(a == b))
    except (TypeError, ValueError):
        return False


__all__ = ["TraceError", "trace"]
