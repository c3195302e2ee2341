"""The plan protocol: what a plan backend is, how it is registered and chosen.

A plan backend (:class:`PlanBackend`) converts constants, feeds and fetches, binds each op
of a plan to a prepared kernel (:class:`BindSite` says what the op's site knows), or
compiles the whole graph itself (:data:`GraphRunner`). Backends are registered by name
with :func:`register_plan_backend`; ``"auto"`` picks the available one with the highest
priority for the device (:func:`plan_backend_class`). :class:`WeightCache` holds the
prepared constants plans and networks share. The engine that runs plans is
:mod:`.engine`.

Example:
    >>> "numpy" in available_plan_backends(PlanOptions(backend="numpy"))
    True
    >>> plan_backend_class(PlanOptions(backend="numpy")).name
    'numpy'
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np

from ...backends import Prepared, PrepareSite, get_backend
from ...core.opdef import TensorInfo
from ...device import parse_device
from ...graph.ir import Graph, OpNode, VarNode


@dataclasses.dataclass(frozen=True)
class PlanOptions:
    """How to build a plan.

    Attributes:
        backend: plan backend name, or ``"auto"`` (the fastest available for ``device``).
        device: MegEngine device name: ``"cpu0"``, ``"gpu0"``...
        threads: CPU threads for the kernels (``None``: leave the library's setting).
        compute_dtype: ``None`` (compute in the graph's dtypes), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``: float tensors are held and computed in it
            (inputs are cast on entry, outputs back to their dtypes on exit).
        channels_last: lay 4-d activations out channels-last (``None``: the backend's
            choice).
        optimize: run the inference passes the backend gains from (BatchNorm and
            constant folding, conv+bias+nonlinearity fusion) before planning.
    """

    backend: str = "auto"
    device: str = "cpu0"
    threads: int | None = None
    compute_dtype: str | None = None
    channels_last: bool | None = None
    optimize: bool = True

    @property
    def device_kind(self) -> str:
        """``"cpu"`` or ``"gpu"``."""
        kind = parse_device(self.device)[0]
        return "cpu" if kind in ("cpu", "xpu") else kind

    @property
    def device_index(self) -> int:
        return max(parse_device(self.device)[1], 0)


class WeightCache:
    """Backend copies of constants, made once and shared by plans (and networks).

    Entries are keyed by the identity of the constant's numpy array plus a key naming
    the transformation; the array is kept alive with its entry.
    """

    def __init__(self) -> None:
        self._items: dict[tuple, tuple[np.ndarray, Any]] = {}

    def get(self, value: np.ndarray, key: tuple, make: Callable[[np.ndarray], Any]) -> Any:
        """The cached ``make(value)`` for ``(value, key)``; computed on first use."""
        k = (id(value), *key)
        hit = self._items.get(k)
        if hit is None or hit[0] is not value:
            hit = (value, make(value))
            self._items[k] = hit
        return hit[1]

    def __len__(self) -> int:
        return len(self._items)


#: ``run(feeds) -> outputs``: a whole graph compiled by a backend (numpy in and out)
GraphRunner = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


#: a bound op: the prepared kernel of one plan step
BoundOp = Prepared


@dataclasses.dataclass
class BindSite(PrepareSite):
    """A :class:`~mge.backends.PrepareSite` in a plan: plus the op node (``host`` is the
    plan backend)."""

    node: OpNode | None = None

    @classmethod
    def of(cls, node: OpNode, consts: tuple[np.ndarray | None, ...],
           donated: tuple[bool, ...], host: PlanBackend) -> BindSite:
        return cls([TensorInfo(v.shape, v.dtype) for v in node.inputs],
                   [TensorInfo(v.shape, v.dtype) for v in node.outputs],
                   consts, donated, host, node)


class PlanBackend:
    """Base of plan backends: constant/feed/fetch conversion and kernel binding.

    Subclasses set ``name``, ``priority`` (``"auto"`` picks the highest available) and
    ``devices``, and override what they do better than the generic binding (which
    calls the eager backend's kernel for the op).
    """

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    #: the eager backend whose kernels the generic binding calls
    eager: ClassVar[str] = ""
    #: graph passes run before planning when ``options.optimize``
    passes: ClassVar[tuple[str, ...]] = ()
    #: only used when named (``"auto"`` and :func:`available_plan_backends` skip it)
    opt_in: ClassVar[bool] = False
    #: runs graphs with quantized dtypes (``"auto"`` picks such a backend for them)
    quantized: ClassVar[bool] = False

    def __init__(self, options: PlanOptions, weights: WeightCache) -> None:
        self.options = options
        self.weights = weights
        self.kernels = get_backend(self.eager)
        #: what prepared constants depend on besides the value (device, dtype, layout)
        self.key: tuple = (self.name,)

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        """Why this backend cannot run with ``options`` (``None`` when it can)."""
        if options.device_kind not in cls.devices:
            return f"plan backend {cls.name!r} runs on {'/'.join(cls.devices)} only"
        return None

    def const(self, value: np.ndarray) -> Any:
        """The backend array for a constant (cached)."""
        return self.prepared(value, "const", self.asarray)

    def prepared(self, value: np.ndarray, what: str, make: Callable[[np.ndarray], Any]) -> Any:
        """A constant transformed by ``make``, cached under ``what`` and this backend's key."""
        return self.weights.get(value, (*self.key, what), make)

    def asarray(self, value: np.ndarray) -> Any:
        return self.kernels.asarray(value)

    def feed(self, value: np.ndarray, var: VarNode) -> Any:
        """The backend array for an input value (zero-copy when possible)."""
        return self.kernels.asarray(value)

    def fetch(self, array: Any, var: VarNode) -> np.ndarray:
        """A C-contiguous numpy array of ``var``'s dtype for a result."""
        return np.ascontiguousarray(self.kernels.to_numpy(array), dtype=var.dtype)

    def compile_graph(self, graph: Graph) -> GraphRunner | None:
        """A runner for the whole graph, for backends that compile graphs themselves
        (``None``: the plan binds op by op)."""
        return None

    def bind(self, site: BindSite) -> BoundOp:
        """Bind one op: its kernel prepared by the eager backend for this site."""
        op = site.node.op
        try:
            return self.kernels.prepare(op, site)
        except NotImplementedError:
            raise NotImplementedError(f"plan backend {self.name!r} has no kernel for "
                                      f"{op.type_name}") from None

    def session(self) -> AbstractContextManager:
        """Context entered around every run (threads, no-grad modes...)."""
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); CPU backends have none."""


PLAN_BACKENDS: dict[str, type[PlanBackend]] = {}
#: the passes the built-in backends run before planning: MegEngine's inference passes
#: (BatchNorm and constant folding, arithmetic fusion, conv+bias+nonlinearity), then the
#: plan-only convolution epilogues (:mod:`..plan_passes`)
INFERENCE_PASSES = ("remove_noop", "bn_to_elemwise", "fold_constants", "arith_reorder",
                    "fold_conv_scale", "fold_constants", "arith_fuse", "fuse_conv_bias",
                    "conv_epilogue")


def register_plan_backend(cls: type[PlanBackend]) -> type[PlanBackend]:
    """Class decorator registering a plan backend under ``cls.name``."""
    if not cls.name or cls.name in PLAN_BACKENDS:
        raise ValueError(f"plan backend name {cls.name!r} is empty or taken")
    PLAN_BACKENDS[cls.name] = cls
    return cls


#: plan backends that ship with mge, imported on first use
_BUILTIN = {"numpy": "mge.runtime.plan_numpy", "torch": "mge.runtime.plan_torch",
            "onnxruntime": "mge.runtime.ort_plan", "openvino": "mge.runtime.plan_openvino",
            "onnxruntime-int8": "mge.runtime.plan_ort_int8",
            "openvino-int8": "mge.runtime.plan_openvino_int8"}


#: the built-in backends' priorities, known before importing them: ``"auto"`` imports
#: only those that could beat the best one it already has (not torch, when onnxruntime
#: runs the graph); ``tests/runtime`` checks these against the classes
BUILTIN_PRIORITY = {"onnxruntime": 30, "torch": 20, "openvino": 15, "numpy": 10,
                    "onnxruntime-int8": 5, "openvino-int8": 4}
#: built-in backends whose library is not installed (not tried again)
_MISSING: set[str] = set()


def _auto_class(options: PlanOptions, quantized: bool) -> type[PlanBackend] | None:
    """The highest-priority backend ``"auto"`` may use, importing built-in backends in
    priority order only while one of them could still beat the best found."""
    while True:
        usable = [c for c in PLAN_BACKENDS.values() if not c.opt_in
                  and (not quantized or c.quantized) and c.unavailable(options) is None]
        best = max(usable, key=lambda c: c.priority, default=None)
        floor = best.priority if best is not None else float("-inf")
        pending = [k for k in _BUILTIN if k not in PLAN_BACKENDS and k not in _MISSING
                   and BUILTIN_PRIORITY.get(k, 0) > floor]
        if not pending:
            return best
        name = max(pending, key=lambda k: BUILTIN_PRIORITY.get(k, 0))
        try:
            _load_builtin_backends(name)
        except ImportError:
            _MISSING.add(name)


def _load_builtin_backends(name: str | None = None) -> None:
    """Import the built-in backend ``name`` (all of them when ``None``) if installed."""
    for key, module in _BUILTIN.items():
        if (name is None or key == name) and key not in PLAN_BACKENDS:
            try:
                importlib.import_module(module)
            except ImportError:
                if name is not None:
                    raise


def available_plan_backends(options: PlanOptions | None = None) -> list[str]:
    """Names of the plan backends that can run with ``options``, fastest first (opt-in
    backends only when ``options.backend`` names them)."""
    _load_builtin_backends()
    options = options or PlanOptions()
    usable = [c for c in PLAN_BACKENDS.values() if c.unavailable(options) is None
              and (not c.opt_in or c.name == options.backend)]
    return [c.name for c in sorted(usable, key=lambda c: -c.priority)]


def plan_backend_class(options: PlanOptions, quantized: bool = False) -> type[PlanBackend]:
    """The backend class ``options`` asks for (for a graph with quantized dtypes when
    ``quantized``); clear errors when it cannot run."""
    if options.backend == "auto":
        cls = _auto_class(options, quantized)
        if cls is None:
            what = "a quantized graph" if quantized else "graphs"
            raise RuntimeError(f"no plan backend can run {what} on device {options.device!r}")
        return cls
    try:
        _load_builtin_backends(options.backend)
    except ImportError as exc:
        raise RuntimeError(f"plan backend {options.backend!r} needs {exc.name}") from exc
    cls = PLAN_BACKENDS.get(options.backend)
    if cls is None:
        known = ", ".join(sorted(PLAN_BACKENDS))
        raise ValueError(f"unknown plan backend {options.backend!r}; known: {known}, auto")
    reason = cls.unavailable(options)
    if reason is not None:
        raise RuntimeError(reason)
    if quantized and not cls.quantized:
        _load_builtin_backends()
        able = [n for n, c in PLAN_BACKENDS.items() if c.quantized]
        raise RuntimeError(f"plan backend {options.backend!r} does not run quantized graphs "
                           f"(int8 dtypes); use one of: {', '.join(able)} or 'auto'")
    return cls


__all__ = [
    "BUILTIN_PRIORITY",
    "INFERENCE_PASSES",
    "PLAN_BACKENDS",
    "BindSite",
    "BoundOp",
    "GraphRunner",
    "PlanBackend",
    "PlanOptions",
    "WeightCache",
    "available_plan_backends",
    "plan_backend_class",
    "register_plan_backend",
]
