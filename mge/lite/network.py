"""``LiteNetwork``: load a ``.mge`` model and run it, megenginelite's Python API.

Loading reads the model (path, bytes or binary file object), exposes float16 IO for
``enable_io16xc32``/``enable_ioc16`` dumps, runs the inference passes the chosen plan
backend gains from, and compiles a plan for the input shapes (see
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

import dataclasses
import io
import os
import threading
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from ..graph.ir import Graph, VarNode
from ..jit.testcase import is_testcase_file, load_testcase_model
from ..runtime.cpu import reduced_precision_dtype
from ..runtime.plan import Plan, PlanCache, PlanOptions, StepInfo, plan_backend_class
from ..runtime.specialize import ShapeError, expose_float16_io
from ..serialization.fbs import Metadata, MgeFormatError
from ..serialization.mge_graph import graph_from_bytes
from .config import LiteConfig, LiteIO, LiteNetworkIO
from .profile import IODumper, Profiler
from .struct import (
    LiteAlgoSelectStrategy,
    LiteDeviceType,
    LiteError,
    LiteTensorPhase,
    LiteTypeError,
    LiteValueError,
)
from .tensor import LiteLayout, LiteTensor

IOCallback = Callable[[dict[LiteIO, LiteTensor]], Any]
_IO16_BITS = 0b11  # GraphOptimizeOptions bits of enable_io16xc32 / enable_ioc16


def read_model_bytes(file: str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
                     ) -> tuple[bytes, str]:
    """The bytes of a model given as a path, bytes or binary file object, and a name."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return f.read(), os.fspath(file)
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), "<bytes>"
    if hasattr(file, "read"):
        data = file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise LiteTypeError("the model file object must be opened in binary mode")
        name = getattr(file, "name", "<file>")
        return bytes(data), name if isinstance(name, str) else "<file>"
    raise LiteTypeError(f"load takes a path, bytes or a binary file object, got "
                        f"{type(file).__name__}")


def _device_name(config: LiteConfig, device_id: int) -> str:
    kind = LiteDeviceType(config.device_type)
    if kind == LiteDeviceType.LITE_DEVICE_DEFAULT:
        from ..device import is_cuda_available

        kind = LiteDeviceType.LITE_CUDA if is_cuda_available() else LiteDeviceType.LITE_CPU
    if kind == LiteDeviceType.LITE_CPU:
        return "cpu0"
    if kind == LiteDeviceType.LITE_CUDA:
        return f"gpu{device_id}"
    raise LiteValueError(f"device type {kind.name} is not supported by mge.lite "
                         "(use LITE_CPU or LITE_CUDA)")


def plan_options(config: LiteConfig, threads: int, device_id: int, model_bits: int
                 ) -> PlanOptions:
    """The plan options a config gives for a model with ``model_bits`` optimize options.

    With ``config.compute_dtype`` unset, float32 models compute in float32; an
    ``enable_ioc16`` model computes in float16 on CUDA, and on CPU in the 16-bit type
    the CPU has units for (else float32); an ``enable_io16xc32`` model computes in
    float32 on CPU.
    """
    options = PlanOptions(backend=config.plan_backend or "auto",
                          device=_device_name(config, device_id), threads=threads,
                          compute_dtype=config.compute_dtype,
                          channels_last=config.channels_last)
    if config.compute_dtype is not None or not model_bits & _IO16_BITS:
        return options
    if options.device_kind == "gpu":
        wanted = "float16" if model_bits & 0b10 else None
    else:
        wanted = (reduced_precision_dtype() or "float32") if model_bits & 0b10 else "float32"
    candidate = dataclasses.replace(options, compute_dtype=wanted)
    try:
        plan_backend_class(candidate)
    except (RuntimeError, ValueError):
        return options
    return candidate


class LiteNetwork:
    """A model loaded for inference, with megenginelite's API.

    Args:
        config: device, plan backend, compute dtype, options.
        io: the inputs' initial layouts and the outputs to compute (default: the
            model's own outputs).
    """

    def __init__(self, config: LiteConfig | None = None, io: LiteNetworkIO | None = None
                 ) -> None:
        self.config = config if config is not None else LiteConfig()
        self.network_io = io if io is not None else LiteNetworkIO()
        self._threads = 1
        self._device_id = int(self.config.device_id)
        self._inplace_mode = False
        self._cache: PlanCache | None = None
        self._inputs: dict[str, LiteTensor] = {}
        self._outputs: dict[str, LiteTensor] = {}
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

    # ------------------------------------------------------------ loading
    def load(self, file: str | os.PathLike | bytes | IO[bytes]) -> None:
        """Load a ``.mge`` model from a path, bytes or a binary file object.

        A test-case container (``mgbtest0``, from ``dump(input_data=...)``) loads too: its
        model runs with the checks taken off (real MegEngine Lite refuses such files).

        Raises:
            LiteValueError: the data is not a model mge can read (the message says why).
            LiteError: the network is already loaded.
        """
        self._check_unloaded("load")
        data, source = read_model_bytes(file)
        try:
            if is_testcase_file(data):
                blob = io.BytesIO(data)
                blob.name = source
                model = load_testcase_model(blob)
                graph, metadata = model.graph, model.metadata
            else:
                loaded = graph_from_bytes(data, source)
                graph, metadata = loaded.graph, loaded.metadata
        except MgeFormatError as exc:
            raise LiteValueError(f"cannot load {source} as a MegEngine model: {exc}") from None
        self.load_from_graph(graph, metadata)

    def load_from_graph(self, graph: Graph, metadata: Metadata | None = None) -> None:
        """Load an in-memory graph (mge's IR, e.g. from ``load_graph``) with its metadata.

        Example:
            >>> network.load_from_graph(load_graph("model.mge").graph)  # doctest: +SKIP
        """
        self._check_unloaded("load")
        bits = metadata.optimize_options if metadata is not None and metadata.is_valid else 0
        graph = expose_float16_io(graph) if bits & _IO16_BITS else graph
        graph = self._select_outputs(graph)
        options = plan_options(self.config, self._threads, self._device_id, bits)
        self._install(PlanCache(graph, options))

    def share_weights_with(self, src_network: LiteNetwork) -> None:
        """Load the model ``src_network`` loaded, sharing its prepared weights."""
        if not isinstance(src_network, LiteNetwork) or src_network._cache is None:
            raise LiteValueError("share_weights_with needs a loaded LiteNetwork")
        self._check_unloaded("share_weights_with")
        src = src_network._cache
        options = dataclasses.replace(src.options, threads=self._threads, optimize=False)
        self._install(PlanCache(src.graph, options, weights=src.weights))

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

    def _install(self, cache: PlanCache) -> None:
        configured = {i.name: i for i in self.network_io.inputs}
        shapes = {}
        for var in cache.graph.inputs:
            io_cfg = configured.get(var.name)
            if io_cfg is not None and io_cfg.config_layout.ndim:
                shapes[var.name] = tuple(io_cfg.config_layout.shapes)
        plan = cache.plan(shapes)
        self._cache = cache
        ios = {io_cfg.name: io_cfg for io_cfg in
               [*self.network_io.inputs, *self.network_io.outputs]}
        for var in plan.inputs:
            tensor = LiteTensor(LiteLayout(var.shape, var.dtype))
            tensor._check = self._input_check(var)
            self._inputs[var.name] = tensor
            self._ios[var.name] = ios.get(var.name) or LiteIO(var.name)
        for k, var in enumerate(plan.outputs):
            name = self.get_output_name(k)
            self._outputs[name] = LiteTensor(LiteLayout(var.shape, var.dtype))
            self._ios.setdefault(name, ios.get(name) or LiteIO(name))

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
        """
        cache = self._plan_cache("forward")
        self.wait()
        shapes = {n: tuple(t._layout.shapes) for n, t in self._inputs.items()}
        try:
            plan = cache.plan(shapes)
        except ShapeError as exc:
            raise LiteValueError(str(exc)) from None
        feeds = [self._inputs[v.name]._array() for v in plan.inputs]
        if self._start is not None:
            self._start({self._ios[n]: t for n, t in self._inputs.items()})
        if self._async is None:
            self._run(plan, feeds)
            return
        self._error = None
        self._thread = threading.Thread(target=self._run_async, args=(plan, feeds),
                                        name="mge-lite-forward", daemon=True)
        self._thread.start()

    def _run(self, plan: Plan, feeds: list[np.ndarray]) -> None:
        observers = [o for o in (self._profiler, *self._dumpers) if o is not None]
        for obs in observers:
            if isinstance(obs, Profiler):
                obs.start(plan)
            else:
                obs.start(plan, feeds)

        def observe(step: StepInfo, outputs: Any, seconds: float) -> None:
            for obs in observers:
                obs.record(step, outputs, seconds)

        results = plan.run_feeds(feeds, observe if observers else None)
        for k, value in enumerate(results):
            self._outputs[self.get_output_name(k)]._set(value)
        if self._profiler is not None:
            self._profiler.finish()
            self._profiler.write()
        if self._finish is not None:
            self._finish({self._ios[n]: t for n, t in self._outputs.items()})

    def _run_async(self, plan: Plan, feeds: list[np.ndarray]) -> None:
        try:
            self._run(plan, feeds)
            assert self._async is not None
            self._async()
        except BaseException as exc:  # reported by wait()
            self._error = exc

    def wait(self) -> None:
        """Wait for an async forward to finish; re-raises its error, if any."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
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
        if phase != LiteTensorPhase.LITE_OUTPUT and name in self._inputs:
            return self._inputs[name]
        if phase != LiteTensorPhase.LITE_INPUT and name in self._outputs:
            return self._outputs[name]
        raise LiteValueError(f"no {phase.name[5:].lower()} tensor named {name!r}; inputs: "
                             f"{list(self._inputs)}, outputs: {list(self._outputs)}")

    def get_input_name(self, index: int) -> str:
        """The name of input ``index``."""
        names = self.get_all_input_name()
        if not 0 <= index < len(names):
            raise IndexError(f"input index {index} out of range; the network has "
                             f"{len(names)} inputs")
        return names[index]

    def get_output_name(self, index: int) -> str:
        """The name of output ``index`` (``output_<k>`` for unnamed ones)."""
        outputs = self._plan_cache("get_output_name").graph.outputs
        if not 0 <= index < len(outputs):
            raise IndexError(f"output index {index} out of range; the network has "
                             f"{len(outputs)} outputs")
        return outputs[index].name or f"output_{index}"

    def get_all_input_name(self) -> list[str]:
        return [v.name for v in self._plan_cache("get_all_input_name").graph.inputs]

    def get_all_output_name(self) -> list[str]:
        outputs = self._plan_cache("get_all_output_name").graph.outputs
        return [self.get_output_name(k) for k in range(len(outputs))]

    # ------------------------------------------------------------ settings
    @property
    def threads_number(self) -> int:
        """CPU threads the kernels use (default 1; set before load)."""
        return self._threads

    @threads_number.setter
    def threads_number(self, nr_threads: int) -> None:
        self._check_unloaded("threads_number")
        if int(nr_threads) < 1:
            raise LiteValueError(f"threads_number must be >= 1, got {nr_threads}")
        self._threads = int(nr_threads)

    @property
    def device_id(self) -> int:
        return self._device_id

    @device_id.setter
    def device_id(self, device_id: int) -> None:
        self._check_unloaded("device_id")
        self._device_id = int(device_id)

    def enable_cpu_inplace_mode(self) -> None:
        """Run forwards in the calling thread (mge always does unless async); set before load."""
        self._check_unloaded("enable_cpu_inplace_mode")
        self._inplace_mode = True

    def is_cpu_inplace_mode(self) -> bool:
        return self._inplace_mode

    def set_network_algo_policy(self, policy: int, shared_batch_size: int = 0,
                                binary_equal_between_batch: bool = False) -> None:
        """Record the algorithm policy (mge's backends choose kernels themselves)."""
        self._algo_policy = (int(policy), int(shared_batch_size),
                             bool(binary_equal_between_batch))

    def set_network_algo_workspace_limit(self, size_limit: int) -> None:
        """Record the workspace limit (mge's plans need no workspace beyond scratch)."""
        self._workspace_limit = int(size_limit)

    def async_with_callback(self, async_callback: Callable[[], Any]) -> None:
        """Make ``forward`` asynchronous; ``async_callback()`` runs when it finishes."""
        self._async = async_callback

    def set_start_callback(self, start_callback: IOCallback) -> None:
        """Call ``start_callback({LiteIO: LiteTensor})`` with the inputs before each forward."""
        self._start = start_callback

    def set_finish_callback(self, finish_callback: IOCallback) -> None:
        """Call ``finish_callback({LiteIO: LiteTensor})`` with the outputs after each forward."""
        self._finish = finish_callback

    def enable_profile_performance(self, profile_file: str) -> None:
        """Time every op; after each forward write ``profile_file`` (JSON) and a readable
        summary next to it (``.txt``)."""
        self._profiler = Profiler(os.fspath(profile_file))

    def io_txt_dump(self, txt_file: str) -> None:
        """Write every op's outputs (statistics and leading values) to ``txt_file``."""
        self._dumpers.append(IODumper(os.fspath(txt_file), binary=False))

    def io_bin_dump(self, bin_dir: str) -> None:
        """Write every op's outputs as ``.npy`` files into ``bin_dir``."""
        self._dumpers.append(IODumper(os.fspath(bin_dir), binary=True))

    # ------------------------------------------------------------ mge extras
    @property
    def plan(self) -> Plan:
        """The compiled plan for the current input shapes (mge extra)."""
        cache = self._plan_cache("plan")
        return cache.plan({n: tuple(t._layout.shapes) for n, t in self._inputs.items()})

    def __repr__(self) -> str:
        return repr({"config": self.config, "IOs": self.network_io})


def get_model_io_info(model_path: str | os.PathLike | bytes | IO[bytes],
                      config: LiteConfig | None = None) -> LiteNetworkIO:
    """The inputs and outputs of a model (names and layouts), without compiling it."""
    data, source = read_model_bytes(model_path)
    try:
        loaded = graph_from_bytes(data, source)
    except MgeFormatError as exc:
        raise LiteValueError(f"cannot load {source} as a MegEngine model: {exc}") from None
    bits = loaded.metadata.optimize_options if loaded.metadata.is_valid else 0
    graph = expose_float16_io(loaded.graph) if bits & _IO16_BITS else loaded.graph
    ios = LiteNetworkIO()
    for var in graph.inputs:
        ios.add_input(var.name, layout=LiteLayout(var.shape, var.dtype))
    for k, var in enumerate(graph.outputs):
        ios.add_output(var.name or f"output_{k}", layout=LiteLayout(var.shape, var.dtype))
    return ios


__all__ = ["LiteNetwork", "get_model_io_info", "plan_options", "read_model_bytes"]
