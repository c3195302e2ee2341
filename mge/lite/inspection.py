"""``LiteNetwork``'s inspection tools: per-op profiling and IO dumps, the static memory
report, and the global layout transform (choose the activation layout by timing, write
the model as the network runs it).

They are a mixin of :class:`mge.lite.network.LiteNetwork`; the network's attributes they
use are declared below.

Example:
    >>> network.enable_profile_performance("profile.json")   # doctest: +SKIP
    >>> network.forward(); network.wait()                    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import TYPE_CHECKING

import numpy as np

from ..graph.ir import Graph
from ..runtime.fast_run import Selection
from ..runtime.plan import PlanCache, PlanOptions, plan_backend_class
from ..serialization.mge_graph import dump_graph
from ..utils.atomic_file import write_file
from .profile import IODumper, Profiler
from .struct import LOGGER

if TYPE_CHECKING:
    from ..runtime.plan import Plan


class NetworkInspection:
    """Profiling, IO dumps, memory report and layout transform of a ``LiteNetwork``."""

    _profiler: Profiler | None
    _dumpers: list[IODumper]
    _fast_run: Selection | None
    _layout_transform: bool
    _model_graph: Graph

    if TYPE_CHECKING:
        @property
        def plan(self) -> Plan: ...

        def _check_unloaded(self, what: str) -> None: ...

        def _plan_cache(self, what: str) -> PlanCache: ...

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

    def get_static_memory_alloc_info(self, log_dir: str = "logs/test") -> None:
        """Write the plan's static memory figures to ``log_dir/StaticMemoryInfo.json``
        (mge's plans: peak and total activation bytes, weight bytes, in-place ops, and
        ``fast_run``: the fast-run choice and selection time when there is one; not
        MegEngine's per-chunk visualisation)."""
        report = self.plan.memory._asdict()
        if self._fast_run is not None:
            report["fast_run"] = self._fast_run.as_dict()
        os.makedirs(log_dir, exist_ok=True)
        write_file(os.path.join(log_dir, "StaticMemoryInfo.json"),
                   json.dumps(report, indent=1).encode())

    def enable_global_layout_transform(self) -> None:
        """Choose the activation layout by profiling, set before load: with a plan
        backend that can lay activations out channels-last (torch) and
        ``config.channels_last`` unset, load times one forward in each layout and keeps
        the faster; other backends choose their layouts themselves (logged)."""
        self._check_unloaded("enable_global_layout_transform")
        self._layout_transform = True

    def _layout_choice(self, graph: Graph, options: PlanOptions) -> PlanOptions:
        backend = plan_backend_class(options).name
        if backend != "torch" or options.channels_last is not None:
            LOGGER.info("global layout transform: the %s plan backend chooses its layouts "
                        "itself (or config.channels_last is set); nothing to profile", backend)
            return options
        seconds = {}
        for channels_last in (False, True):
            candidate = dataclasses.replace(options, channels_last=channels_last)
            plan = PlanCache(graph, candidate).plan()
            feeds = [np.zeros(v.shape, v.dtype) for v in plan.inputs]
            plan.run_feeds(feeds)  # warm-up: kernels prepare on first use
            start = time.perf_counter()
            plan.run_feeds(feeds)
            seconds[channels_last] = time.perf_counter() - start
        best = min(seconds, key=seconds.__getitem__)
        LOGGER.info("global layout transform: NCHW %.4f s, channels-last %.4f s: using %s",
                    seconds[False], seconds[True], "channels-last" if best else "NCHW")
        return dataclasses.replace(options, channels_last=best)

    def dump_layout_transform_model(self, model_file: str) -> None:
        """Write the model as this network runs it (after the plan backend's inference
        passes) to ``model_file`` as a ``.mge``; when the backend's fused ops have no
        MegEngine encoding (e.g. conv+ReLU6), the model before those passes (logged)."""
        cache = self._plan_cache("dump_layout_transform_model")
        try:
            data, _ = dump_graph(cache.graph)
        except ValueError as exc:
            LOGGER.info("dump_layout_transform_model: %s; writing the model before the %s "
                        "backend's passes", exc, cache.backend_class.name)
            data, _ = dump_graph(self._model_graph)
        write_file(model_file, data)


__all__ = ["NetworkInspection"]
