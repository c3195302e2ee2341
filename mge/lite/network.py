"""``LiteNetwork``: load a ``.mge`` model and run it, megenginelite's Python API.

Loading reads the model (path, bytes or binary file object), runs the inference passes
the chosen plan backend gains from, and compiles a plan for the input shapes (see
:mod:`mge.runtime.plan`). ``forward`` runs the plan on the input tensors' data
(re-planning when an input's shape changed) and fills the output tensors.

Example:
    >>> network = LiteNetwork()
    >>> network.load("resnet18.mge")                            # doctest: +SKIP
    >>> network.get_io_tensor("data").set_data_by_share(img)     # doctest: +SKIP
    >>> network.forward(); network.wait()                        # doctest: +SKIP
    >>> for name in network.get_all_output_name():               # doctest: +SKIP
    ...     print(name, network.get_io_tensor(name).to_numpy().argmax())
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..graph.ir import Graph, VarNode
from ..runtime.fast_run import CACHE_CATEGORY, Selection, select_plan_backend
from ..runtime.plan import Plan, PlanCache, PlanOptions, StepInfo
from ..runtime.plan_onnx import capture_exports
from ..runtime.specialize import ShapeError
from ..runtime.staged import StagedPlanCache
from ..serialization.fbs import Metadata
from .cached_load import CachedLoad, open_load, store_entry
from .cached_plan import LazyPlanCache, io_of
from .callbacks import IOCallback, NetworkCallbacks
from .config import LiteConfig, LiteExtraConfig, LiteIO, LiteNetworkIO
from .fast_forward import fast_forward_of
from .fast_run_disk import load_choices, save_choices
from .global_setting import sync_persistent_cache
from .guard import UsageGuard
from .input_order import lite_input_order
from .inspection import NetworkInspection
from .loading import LoadedModel, ModelSource, gc_paused, model_bits, plan_options, read_model
from .persistent_cache import PERSISTENT_CACHE
from .pre_load_setting import SetBeforeLoad
from .profile import IODumper, Profiler
from .struct import (
    LOGGER,
    LiteAlgoSelectStrategy,
    LiteError,
    LiteTensorPhase,
    LiteTypeError,
    LiteValueError,
)
from .tensor import LiteLayout, LiteTensor


class LiteNetwork(NetworkCallbacks, NetworkInspection):
    """A model loaded for inference, with megenginelite's API (profiling, IO dumps and
    the layout transform: :class:`~mge.lite.inspection.NetworkInspection`).

    Threading: one network per thread, as in MegEngine Lite; misuse from several
    threads is serialized or raises ``LiteConcurrencyError``, never mixes results (see
    :mod:`mge.lite.guard`).

    Args:
        config: device, plan backend, compute dtype, options.
        io: the inputs' initial layouts and the outputs to compute (default: the
            model's own outputs).
    """

    threads_number = SetBeforeLoad("_threads", "CPU threads the kernels use (default 1; set "
                                     "before load).", minimum=1)
    stream_id = SetBeforeLoad("_stream_id", "The device stream (recorded: mge's backends "
                               "run on their default stream).")
    device_id = SetBeforeLoad("_device_id", "The device index (set before load).")

    def __init__(self, config: LiteConfig | None = None, io: LiteNetworkIO | None = None
                 ) -> None:
        self.config = config if config is not None else LiteConfig()
        self.network_io = io if io is not None else LiteNetworkIO()
        self._threads = 1
        self._device_id = int(self.config.device_id)
        self._stream_id = 0
        self._inplace_mode = False
        self._extra = LiteExtraConfig()
        self._layout_transform = False
        self._cache: PlanCache | None = None
        self._options: PlanOptions | None = None
        self._fast_run: Selection | None = None
        self._graph = Graph()
        self._input_names: list[str] = []
        self._inputs: dict[str, LiteTensor] = {}
        self._discrete: dict[str, list[LiteTensor]] = {}
        self._outputs: dict[str, LiteTensor] = {}
        self._output_order: list[LiteTensor] = []
        #: (plan cache, input shapes, plan) of the last forward (see _plan_and_feeds)
        self._last_plan: tuple[PlanCache, list[tuple[int, ...]], Plan] | None = None
        #: the fast forward of the plan ``_fast_for``, and of recent plans by plan (see
        #: :mod:`mge.lite.fast_forward`)
        self._fast: Callable[[], bool] | None = None
        self._fast_for: Plan | None = None
        self._fast_kept: dict[Plan, Callable[[], bool] | None] = {}
        self._ios: dict[str, LiteIO] = {}
        self._async: Callable[[], Any] | None = None
        self._start: IOCallback | None = None
        self._finish: IOCallback | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._profiler: Profiler | None = None
        self._dumpers: list[IODumper] = []
        self._algo_policy: tuple[int, int, bool] = (LiteAlgoSelectStrategy.LITE_ALGO_HEURISTIC,
                                                    0, False)
        self._workspace_limit: int | None = None
        self._guard = UsageGuard(hex(id(self)))
        #: the packed model's ``extra_info`` (JSON text; empty for other models)
        self.extra_info = ""

    @property
    def _model_graph(self) -> Graph:
        """The model's graph as loaded (from a load-cache entry: parsed on first use)."""
        cache = self._cache
        return cache.model_graph() if isinstance(cache, LazyPlanCache) else self._graph

    @_model_graph.setter
    def _model_graph(self, graph: Graph) -> None:
        self._graph = graph

    # ------------------------------------------------------------ loading
    def load(self, file: ModelSource) -> None:
        """Load a model from a path, bytes or a binary file object: a ``.mge``, a bare
        encrypted one (``config.bare_model_cryption_name``) or a Lite packed model (its
        info configures the network unless ``extra_configure`` disabled that).

        A test-case container (``mgbtest0``, from ``dump(input_data=...)``) loads too: its
        model runs with the checks taken off (real MegEngine Lite refuses such files).
        A plain ``.mge`` loaded before with the same settings comes from the load cache
        (``config.load_cache``; see :mod:`mge.lite.load_cache`).

        Raises:
            LiteValueError: the data is not a model mge can read (the message says why).
            LiteError: the network is already loaded.
        """
        self._check_unloaded("load")
        with gc_paused():  # a load makes many objects and no garbage cycles
            use_info = not self._extra.disable_configure_by_model_info
            found = open_load(self, file, use_info)  # the load cache: an earlier load's entry
            if not isinstance(found, CachedLoad):
                model = read_model(found.data, self.config, use_info, found.source)
                found = found.lookup(self, use_info) or found  # the entry of these bytes
            if isinstance(found, CachedLoad):
                self._options, self._fast_run = found.options, found.fast_run
                return self._install(found.cache)
            with capture_exports() as captured:
                self._load_model(model, use_info)
            store_entry(self, found, captured)  # in the background, after this load

    def _load_model(self, model: LoadedModel, use_info: bool) -> None:
        packed = model.container
        if packed.info is not None and use_info:
            self.network_io = LiteNetworkIO([copy.copy(i) for i in self.network_io.inputs],
                                            [copy.copy(o) for o in self.network_io.outputs])
            packed.info.apply(self.config, self.network_io.inputs, self.network_io.outputs)
            settings = packed.info.separate
            self._threads = int(settings.get("number_threads", self._threads))
            self._device_id = int(settings.get("device_id", self._device_id))
            self._inplace_mode = bool(settings.get("enable_inplace_model", self._inplace_mode))
            self.extra_info = packed.info.extra_info
        if packed.cache is not None:
            PERSISTENT_CACHE.merge(packed.cache)
            sync_persistent_cache()
        if model.staged is None:
            self.load_from_graph(model.graph, model.metadata)
            return
        if self.network_io.outputs:  # shapes that depend on input values: run in stages
            raise LiteValueError("LiteNetworkIO outputs cannot be chosen for a model whose "
                                 "shapes depend on input values (nms, cond_take)")
        self._options = plan_options(self.config, self._threads, self._device_id,
                                     model_bits(model.metadata))
        self._install(StagedPlanCache(model.staged, self._options))  # type: ignore[arg-type]

    def load_from_graph(self, graph: Graph, metadata: Metadata | None = None) -> None:
        """Load an in-memory graph (mge's IR, e.g. from ``load_graph``) with its metadata.

        Example:
            >>> network.load_from_graph(load_graph("model.mge").graph)  # doctest: +SKIP
        """
        self._check_unloaded("load")
        graph = self._select_outputs(graph)
        self._model_graph = graph
        options = plan_options(self.config, self._threads, self._device_id,
                               model_bits(metadata))
        if self._layout_transform:
            options = self._layout_choice(graph, options)
        self._options = options
        self._install(self._fast_run_cache(graph, options) or PlanCache(graph, options))

    def share_weights_with(self, src_network: LiteNetwork) -> None:
        """Load the model ``src_network`` loaded, sharing its prepared weights."""
        if not isinstance(src_network, LiteNetwork) or src_network._cache is None:
            raise LiteValueError("share_weights_with needs a loaded LiteNetwork")
        self._check_unloaded("share_weights_with")
        src = src_network._cache
        self._model_graph = src_network._model_graph
        options = dataclasses.replace(src.options, threads=self._threads, optimize=False)
        self._options = options
        if isinstance(src, StagedPlanCache):  # value-dependent shapes: stages read again
            self._install(StagedPlanCache(src.staged, options))  # type: ignore[arg-type]
            return
        self._install(PlanCache(src.graph, options, weights=src.weights))

    def share_runtime_memroy(self, src_network: LiteNetwork) -> None:  # MegEngine's spelling
        """Share runtime memory with ``src_network`` (set before load): the two networks
        must then never run at the same time, and mge serializes their forwards.

        mge's plans hold no activation memory between forwards (each forward allocates
        and frees its intermediates), so there is nothing more to share.
        """
        if not isinstance(src_network, LiteNetwork):
            raise LiteTypeError(f"share_runtime_memroy takes a LiteNetwork, got "
                                f"{type(src_network).__name__}")
        self._check_unloaded("share_runtime_memroy")
        self._guard.lock = src_network._guard.lock

    share_runtime_memory = share_runtime_memroy

    def extra_configure(self, extra_config: LiteExtraConfig) -> None:
        """Extra configuration, before load: ``disable_configure_by_model_info`` makes a
        packed model's info (device, options, IO, fast-run cache) not apply."""
        if not isinstance(extra_config, LiteExtraConfig):
            raise LiteTypeError(f"extra_configure takes a LiteExtraConfig, got "
                                f"{type(extra_config).__name__}")
        self._check_unloaded("extra_configure")
        self._extra = extra_config

    def _select_outputs(self, graph: Graph) -> Graph:
        wanted = [o.name for o in self.network_io.outputs]
        if not wanted:
            return graph
        by_name = {v.name: v for v in graph.vars() if v.name}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise LiteValueError(f"LiteNetworkIO asks for outputs {missing}, which the model "
                                 f"does not have; named vars include {sorted(by_name)[:20]}")
        graph = graph.copy()
        by_name = {v.name: v for v in graph.vars() if v.name}
        graph.outputs = [by_name[n] for n in wanted]
        return graph

    def _configured_shapes(self, graph: Graph) -> dict[str, tuple[int, ...]]:
        """The input shapes ``network_io`` sets for ``graph``'s inputs."""
        configured = {i.name: i for i in self.network_io.inputs}
        return {v.name: tuple(c.config_layout.shapes) for v in graph.inputs
                if (c := configured.get(v.name)) is not None and c.config_layout.ndim}

    def _fast_run_cache(self, graph: Graph, options: PlanOptions) -> PlanCache | None:
        """The plan cache fast-run chooses for ``plan_backend="auto"``: by timing with a
        ``LITE_ALGO_PROFILE`` policy (when the persistent cache, or the fast-run file
        under ``$MGE_HOME``, has no choice for this model and setting), else the cached
        choice if there is one."""
        self._fast_run = None
        profile = bool(self._algo_policy[0] & LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
        if options.backend != "auto":
            if profile:
                LOGGER.info("fast-run: plan_backend %r is named; nothing to choose",
                            options.backend)
            return None
        load_choices()  # from $MGE_HOME's fast-run file
        if not profile and not PERSISTENT_CACHE.categories.get(CACHE_CATEGORY):
            return None
        store = PERSISTENT_CACHE.category(CACHE_CATEGORY)
        picked = select_plan_backend(graph, options, store, self._configured_shapes(graph),
                                     profile=profile)
        if picked is None:
            return None
        self._fast_run, cache = picked
        LOGGER.info("%s", self._fast_run.describe())
        if not self._fast_run.from_cache:
            sync_persistent_cache()
            save_choices()
        return cache

    def _install(self, cache: PlanCache) -> None:
        discrete = self.config.discrete_input_name
        io = io_of(cache)
        shapes = self._configured_shapes(io)
        if discrete and discrete not in {v.name for v in io.inputs}:
            raise LiteValueError(f"discrete_input_name {discrete!r} is not an input of the "
                                 f"model; inputs: {[v.name for v in io.inputs]}")
        plan = cache.plan(shapes)
        self._cache = cache
        self._input_names = lite_input_order([v.name for v in plan.inputs])
        ios = {io_cfg.name: io_cfg for io_cfg in
               [*self.network_io.inputs, *self.network_io.outputs]}
        for var in plan.inputs:
            self._ios[var.name] = ios.get(var.name) or LiteIO(var.name)
            if var.name == discrete:
                self._discrete[var.name] = [self._input_tensor(var, (1, *var.shape[1:]))
                                            for _ in range(var.shape[0])]
            else:
                self._inputs[var.name] = self._input_tensor(var, var.shape)
        for k, var in enumerate(plan.outputs):
            name = self.get_output_name(k)
            tensor = LiteTensor(LiteLayout(var.shape, var.dtype))
            tensor._hook = self._output_hook(name)
            self._outputs[name] = tensor
            self._ios.setdefault(name, ios.get(name) or LiteIO(name))
        #: the output tensor of each plan output, in order (a forward fills them)
        self._output_order = [self._outputs[self.get_output_name(k)]
                              for k in range(len(plan.outputs))]

    def _input_tensor(self, var: VarNode, shape: tuple[int, ...]) -> LiteTensor:
        tensor = LiteTensor(LiteLayout(shape, var.dtype))
        tensor._check = self._input_check(var)
        tensor._hook = self._input_hook
        tensor._lock = self._guard.lock
        return tensor

    def _input_hook(self, tensor: LiteTensor, writing: bool) -> None:
        if writing:
            self._guard.wrote_input()

    def _output_hook(self, name: str) -> Callable[[LiteTensor, bool], None]:
        guard = self._guard

        def hook(tensor: LiteTensor, writing: bool) -> None:
            if not writing and guard.shared:  # one thread alone: nothing to check
                guard.check_read(tensor, name)

        return hook

    def _input_check(self, var: VarNode) -> Callable[[LiteTensor, np.ndarray, bool], np.ndarray]:
        want = var.dtype

        def check(tensor: LiteTensor, array: np.ndarray, share: bool) -> np.ndarray:
            if array.dtype == want:
                return array
            if not share and array.dtype.kind == want.kind:
                return array.astype(want)
            how = "set_data_by_copy converts other float widths" if want.kind == "f" and \
                share else f"give {want} data"
            raise LiteTypeError(f"input {var.name!r}: expected dtype {want} (shape "
                                f"{list(var.shape)}), got {array.dtype} (shape "
                                f"{list(array.shape)}); {how}")

        return check

    def _check_unloaded(self, what: str) -> None:
        if self._cache is not None:
            raise LiteError(f"{what}: the network is already loaded; set it up before load")

    def _plan_cache(self, what: str) -> PlanCache:
        if self._cache is None:
            raise LiteError(f"{what}: the network has no model; call load() first")
        return self._cache

    # ------------------------------------------------------------ running
    def forward(self) -> None:
        """Run the network on the input tensors' data, filling the output tensors.

        In async mode (``async_with_callback``) it returns at once; ``wait`` waits.

        Raises:
            LiteError: no model loaded.
            LiteValueError: an input's shape does not fit the model (names the input,
                the expected and the given shapes).
            LiteConcurrencyError: another thread overwrote this thread's inputs.
        """
        fast = self._fast  # the steady state: the last forward's plan, nothing observing
        if fast is not None and fast():
            return
        cache = self._cache if self._cache is not None else self._plan_cache("forward")
        lock = self._guard.lock
        while True:  # wait for an async forward without holding the lock it runs under
            if self._thread is not None or self._error is not None:
                self.wait()
            lock.acquire()
            if self._thread is None:
                break
            lock.release()
        try:
            self._guard.before_forward()
            plan, feeds = self._plan_and_feeds(cache)
            if self._start is not None:
                self._start({self._ios[n]: t for n, t in self._inputs.items()})
            ticket = (self._guard.after_forward(), threading.current_thread().name)
            if self._async is None:
                self._run(plan, feeds, ticket)
                return
            self._error = None
            self._thread = threading.Thread(target=self._run_async, args=(plan, feeds, ticket),
                                            name="mge-lite-forward", daemon=True)
            self._thread.start()  # it runs once this forward releases the lock
        finally:
            lock.release()

    def _plan_and_feeds(self, cache: PlanCache) -> tuple[Plan, list[np.ndarray]]:
        """The plan for the inputs' shapes and the feeds, in its input order. The inputs'
        shapes of the last forward map to its plan without asking the cache (the common
        case: the same shapes every forward; only the shapes are compared)."""
        if not self._discrete:
            arrays = [t._array() for t in self._inputs.values()]
            shapes = [a.shape for a in arrays]
            last = self._last_plan
            if last is not None and last[0] is cache and last[1] == shapes:
                return last[2], arrays
        feeds_by_name = {n: t._array() for n, t in self._inputs.items()}
        for name, parts in self._discrete.items():
            feeds_by_name[name] = np.concatenate([t._array() for t in parts], axis=0)
        try:
            plan = cache.plan({n: a.shape for n, a in feeds_by_name.items()})
        except ShapeError as exc:
            raise LiteValueError(str(exc)) from None
        feeds = [feeds_by_name[v.name] for v in plan.inputs]
        in_order = [v.name for v in plan.inputs] == list(self._inputs)
        self._last_plan = (cache, [a.shape for a in feeds], plan) \
            if in_order and not self._discrete else None
        return plan, feeds

    def _run(self, plan: Plan, feeds: list[np.ndarray], ticket: tuple[int, str]) -> None:
        if self._profiler is None and not self._dumpers and self._finish is None and \
                not self.config.options.force_output_use_user_specified_memory:
            # the plain forward, kept short: on small models its Python time counts
            for tensor, value in zip(self._output_order, plan.run_feeds(feeds), strict=True):
                tensor._set(value)
                self._guard.produced(tensor, *ticket)
            if self._fast_for is not plan:  # the next forwards of this plan take it
                self._fast_for, self._fast = plan, fast_forward_of(self, plan)
            return
        observers = [o for o in (self._profiler, *self._dumpers) if o is not None]
        for obs in observers:
            if isinstance(obs, Profiler):
                obs.start(plan)
            else:
                obs.start(plan, feeds)

        def observe(step: StepInfo, outputs: Any, seconds: float) -> None:
            for obs in observers:
                obs.record(step, outputs, seconds)

        try:
            results = plan.run_feeds(feeds, observe if observers else None)
        finally:
            for dumper in self._dumpers:
                dumper.finish()
        into_user_memory = bool(self.config.options.force_output_use_user_specified_memory)
        for tensor, value in zip(self._output_order, results, strict=True):
            if into_user_memory:
                tensor._store(value)  # into the memory the user shared, when it fits
            else:
                tensor._set(value)
            self._guard.produced(tensor, *ticket)
        if self._profiler is not None:
            self._profiler.finish()
            self._profiler.write()
        if self._finish is not None:
            self._finish({self._ios[n]: t for n, t in self._outputs.items()})

    def _run_async(self, plan: Plan, feeds: list[np.ndarray], ticket: tuple[int, str]) -> None:
        try:
            with self._guard.lock:
                self._run(plan, feeds, ticket)
            assert self._async is not None
            self._async()
        except BaseException as exc:  # reported by wait()
            self._error = exc

    def wait(self) -> None:
        """Wait for an async forward to finish; re-raises its error, if any."""
        thread = self._thread
        if thread is None and self._error is None:
            return  # no async forward of this network was started
        if thread is not None:
            thread.join()
        with self._guard.lock:
            if self._thread is thread:
                self._thread = None
            error, self._error = self._error, None
        if error is not None:
            raise error

    # ------------------------------------------------------------ IO
    def get_io_tensor(self, name: str | bytes,
                      phase: LiteTensorPhase = LiteTensorPhase.LITE_IO) -> LiteTensor:
        """The input or output tensor called ``name`` (inputs first for ``LITE_IO``)."""
        self._plan_cache("get_io_tensor")
        name = name.decode() if isinstance(name, bytes) else name
        phase = LiteTensorPhase(phase)
        if phase != LiteTensorPhase.LITE_OUTPUT:
            if name in self._inputs:
                return self._inputs[name]
            if name in self._discrete:
                raise LiteError(f"{name} input tensor is in discrete mode, you can use "
                                "get_discrete_tensor to get this input.")
        if phase != LiteTensorPhase.LITE_INPUT and name in self._outputs:
            return self._outputs[name]
        raise LiteValueError(f"no {phase.name[5:].lower()} tensor named {name!r}; inputs: "
                             f"{self._input_names}, outputs: {list(self._outputs)}")

    def get_discrete_tensor(self, name: str | bytes, n_idx: int,
                            phase: LiteTensorPhase = LiteTensorPhase.LITE_INPUT) -> LiteTensor:
        """Batch item ``n_idx`` of the input ``config.discrete_input_name`` (given as
        separate tensors of batch 1; forward joins them)."""
        self._plan_cache("get_discrete_tensor")
        name = name.decode() if isinstance(name, bytes) else name
        if LiteTensorPhase(phase) != LiteTensorPhase.LITE_INPUT or name not in self._discrete:
            raise LiteValueError(f"tensor name must be {name} input tensor name: the "
                                 f"discrete inputs are {list(self._discrete)}")
        parts = self._discrete[name]
        if not 0 <= n_idx < len(parts):
            raise IndexError(f"discrete input {name!r} has {len(parts)} tensors, "
                             f"got index {n_idx}")
        return parts[n_idx]

    def get_input_name(self, index: int) -> str:
        """The name of input ``index``, in MegEngine Lite's order (see
        :mod:`mge.lite.input_order`)."""
        names = self.get_all_input_name()
        if not 0 <= index < len(names):
            raise IndexError(f"input index {index} out of range; the network has "
                             f"{len(names)} inputs")
        return names[index]

    def get_output_name(self, index: int) -> str:
        """The name of output ``index`` (``output_<k>`` for unnamed ones)."""
        outputs = io_of(self._plan_cache("get_output_name")).outputs
        if not 0 <= index < len(outputs):
            raise IndexError(f"output index {index} out of range; the network has "
                             f"{len(outputs)} outputs")
        return outputs[index].name or f"output_{index}"

    def get_all_input_name(self) -> list[str]:
        """The input names, in MegEngine Lite's order."""
        self._plan_cache("get_all_input_name")
        return list(self._input_names)

    def get_all_output_name(self) -> list[str]:
        outputs = io_of(self._plan_cache("get_all_output_name")).outputs
        return [self.get_output_name(k) for k in range(len(outputs))]

    # ------------------------------------------------------------ settings
    def enable_cpu_inplace_mode(self) -> None:
        """Run forwards in the calling thread (mge always does unless async); set before load."""
        self._check_unloaded("enable_cpu_inplace_mode")
        self._inplace_mode = True

    def use_tensorrt(self) -> None:
        """TensorRT is not available to mge (as a MegEngine build without TensorRT)."""
        self._check_unloaded("use_tensorrt")
        raise LiteError("TensorRT is disable at compile time.")

    def is_cpu_inplace_mode(self) -> bool:
        return self._inplace_mode

    def set_network_algo_policy(self, policy: int, shared_batch_size: int = 0,
                                binary_equal_between_batch: bool = False) -> None:
        """Set the algorithm selection policy: with ``LITE_ALGO_PROFILE`` and
        ``config.plan_backend == "auto"``, fast-run times the plan backends (and the
        compute precisions ``config.compute_dtype`` allows) on the model at load and runs
        the fastest, keeping the choice in the persistent cache (see
        :mod:`mge.runtime.fast_run`); set after load, it chooses again now. The other
        flags are recorded (mge's backends choose their kernels themselves).

        Example:
            >>> network.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
            >>> network.load("resnet18.mge")               # doctest: +SKIP
            >>> network.fast_run.backend                   # doctest: +SKIP
            'onnxruntime'
        """
        self._algo_policy = (int(policy), int(shared_batch_size),
                             bool(binary_equal_between_batch))
        if isinstance(self._cache, PlanCache) and self._options is not None and \
                policy & LiteAlgoSelectStrategy.LITE_ALGO_PROFILE:
            self._cache = self._fast_run_cache(self._model_graph, self._options) or self._cache

    def set_network_algo_workspace_limit(self, size_limit: int) -> None:
        """Record the workspace limit (mge's plans need no workspace beyond scratch)."""
        self._workspace_limit = int(size_limit)

    # ------------------------------------------------------------ mge extras
    @property
    def plan(self) -> Plan:
        """The compiled plan for the current input shapes (mge extra)."""
        cache = self._plan_cache("plan")
        return cache.plan({n: tuple(t._layout.shapes) for n, t in self._inputs.items()})

    @property
    def fast_run(self) -> Selection | None:
        """What fast-run chose for this network (backend, precision, selection time,
        each candidate's best ms), or ``None`` when it chose nothing (mge extra)."""
        return self._fast_run

    def __repr__(self) -> str:
        return repr({"config": self.config, "IOs": self.network_io})


__all__ = ["LiteNetwork"]
