"""Fast-run plan backend selection: time the plan backends on a graph, keep the fastest.

MegEngine's fast-run (``LITE_ALGO_PROFILE``) times the candidate kernels of every operator
and records the choices in a persistent cache. mge's plan backends choose their kernels
themselves, so mge's fast-run chooses one level up: the **plan backend** (and compute
precision) a whole graph runs on.

:func:`select_plan_backend` builds a plan for each candidate (:func:`candidates`: every
available plan backend, OpenVINO included where installed, in the precision the options
ask for, plus float32 when they ask for a 16-bit type), runs it on seeded inputs of the
network's input shapes and dtypes (one warm-up run each, then interleaved rounds of
short bursts within :data:`~.fast_run_timing.RUN_BUDGET_S` seconds of timed runs, the
clearly slower candidates dropped as they fall behind; see :mod:`.fast_run_timing`), and
keeps the one with the lowest score (its per-round burst medians compared paired with
the leader's, so that the machine's drift cancels), preferring, among those within
:data:`~.fast_run_timing.TIE_RATIO` of it, float32 and the backend ``"auto"`` ranks first.
OpenVINO is opt-in as a named backend because its graph transformations may change a
model's arithmetic (its HSigmoid fusion took a hard sigmoid's 0.16667 for 1/6 and moved
MobileNetV3-Small's float32 output 1.0e-4 from the graph's; :mod:`.plan_openvino` now
keeps that scale): it competes only when its float32 outputs on these inputs are about
as close to the numpy plan's as the other float32 plan backends' are
(:func:`openvino_tolerance`, checked per model, at selection).

The choice is stored in a key -> value store (the Lite persistent cache) under
:data:`CACHE_CATEGORY`, keyed by :func:`selection_key`: model digest, input shapes and
dtypes, threads, device, compute precision, plan backend library versions and the CPU.
A later selection with the same key takes the stored choice without timing anything.

Example:
    >>> selection = select_plan_backend(graph, PlanOptions(threads=1), {})  # doctest: +SKIP
    >>> selection.backend, selection.describe()                        # doctest: +SKIP
    ('onnxruntime', 'fast-run: onnxruntime (float32) in 0.41 s; ...')
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
import time
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from ..graph.ir import ConstOp, Graph
from .cpu import cpu_flags
from .fast_run_timing import pick, time_candidates
from .plan import (
    PLAN_BACKENDS,
    PlanCache,
    PlanOptions,
    available_plan_backends,
    plan_backend_class,
)
from .plan.engine import is_quantized

LOGGER = logging.getLogger("mge.runtime.fast_run")

#: the persistent-cache category fast-run's choices are stored under
CACHE_CATEGORY = b"mge.fast_run.plan_backend"
#: OpenVINO competes when its float32 deviation from the numpy plan is at most this many
#: times the largest deviation of another float32 plan backend (:func:`openvino_tolerance`)
PEER_FACTOR = 4.0
#: ... or at most this (relative to max |numpy|), where the float32 peers agree closer
DEVIATION_FLOOR = 3e-5
#: the libraries whose versions key a choice
_LIBRARIES = ("numpy", "torch", "onnxruntime", "openvino")
_REDUCED = ("bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A plan backend in a compute precision (``None``: the graph's dtypes)."""

    backend: str
    compute_dtype: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.compute_dtype or 'float32'}"


@dataclasses.dataclass
class Selection:
    """What fast-run chose, how long choosing took, and what it measured.

    Attributes:
        backend, compute_dtype: the choice.
        from_cache: taken from the persistent cache (nothing was timed).
        seconds: selection time (building and timing every candidate, or the lookup).
        timings_ms: the score of each timed candidate (ms: the leader's median burst
            times the candidate's paired ratio to it; by label).
        excluded: candidates left out, with the reason (by label).
        runs: the counted runs of each timed candidate.
        timing_seconds: the time the race took (the rest of ``seconds`` built the
            candidates' plans).
        waited_seconds: the part of ``timing_seconds`` spent waiting for the process's
            other threads (the previous candidate's spinning pool) to go idle.
    """

    backend: str
    compute_dtype: str | None
    from_cache: bool
    seconds: float
    timings_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    excluded: dict[str, str] = dataclasses.field(default_factory=dict)
    runs: dict[str, int] = dataclasses.field(default_factory=dict)
    timing_seconds: float = 0.0
    waited_seconds: float = 0.0

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.backend, self.compute_dtype)

    def describe(self) -> str:
        """One log line: the choice, the selection time, the timings and exclusions."""
        how = "from the persistent cache" if self.from_cache else "by timing"
        parts = [f"fast-run: {self.candidate.label} chosen {how} in {self.seconds:.3f} s"]
        if self.timings_ms:
            parts.append(f"timed {self.timing_seconds:.3f} s ({self.waited_seconds:.3f} s "
                         "waiting for idle threads): " + ", ".join(
                f"{k} {v:.3f} ms ({self.runs.get(k, 0)} runs)"
                for k, v in self.timings_ms.items()))
        if self.excluded:
            parts.append("excluded " + ", ".join(f"{k} ({v})" for k, v in self.excluded.items()))
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: constants up to this many bytes are hashed whole; larger ones by a strided sample
_WHOLE_BYTES = 4096
_SAMPLE = 1024


def _const_bytes(value: np.ndarray) -> memoryview:
    """The bytes of a constant the digest takes: all of a small one, an evenly strided
    sample of :data:`_SAMPLE` elements of a large one (with its size)."""
    flat = np.ascontiguousarray(value).reshape(-1)
    if flat.nbytes > _WHOLE_BYTES:
        flat = np.ascontiguousarray(flat[::-(-flat.size // _SAMPLE)])
    return memoryview(flat).cast("B")


def graph_digest(graph: Graph) -> str:
    """A digest of a graph's inputs, ops, parameters and constants.

    Timings depend on the ops and shapes, not on weight values, so large constants enter
    by their shape, dtype and a strided sample of their values (hashing every weight
    byte cost more than the rest of a cached load); two models that differ in a few
    weights only may share a choice, which is as fast for both.
    """
    h = hashlib.blake2b(digest_size=16)
    index: dict[int, int] = {}
    for node in graph.ops():
        args = [index[v.id] for v in node.inputs]
        for v in node.outputs:
            index[v.id] = len(index)
        outs = [(v.name, v.shape, str(v.dtype)) for v in node.outputs]
        h.update(repr((node.type, sorted(node.params.items(), key=str), args, outs)).encode())
        if isinstance(node.op, ConstOp):
            h.update(_const_bytes(node.op.value))
    h.update(repr([index[v.id] for v in graph.outputs]).encode())
    return h.hexdigest()


@functools.cache
def library_versions() -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of mge and of each installed plan backend library."""
    found = []
    for name in ("mge", *_LIBRARIES):
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(found)


@functools.cache
def cpu_signature() -> str:
    """The CPU model name and a digest of its feature flags."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    flags = hashlib.blake2b(" ".join(sorted(cpu_flags())).encode(), digest_size=8).hexdigest()
    return f"{model} flags:{flags}"


def selection_key(digest: str, graph: Graph, shapes: Mapping[str, Sequence[int]],
                  options: PlanOptions) -> bytes:
    """The persistent-cache key of a selection (JSON text)."""
    inputs = [[v.name, list(shapes.get(v.name, v.shape)), str(v.dtype)] for v in graph.inputs]
    return json.dumps({"model": digest, "inputs": inputs, "threads": options.threads,
                       "device": options.device, "compute_dtype": options.compute_dtype,
                       "versions": dict(library_versions()), "cpu": cpu_signature()},
                      sort_keys=True).encode()


def candidates(options: PlanOptions, quantized: bool = False
               ) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates for ``options`` (numpy float32 first: it is the reference) and the
    plan backends left out, with the reason. For a float graph (``quantized`` false) the
    opt-in backends made for quantized graphs (``onnxruntime-int8``) are left out."""
    dtypes = [options.compute_dtype]
    if options.compute_dtype in _REDUCED:
        dtypes.append(None)  # float32 is allowed too: more accurate, maybe faster
    found, excluded = [], {}
    available_plan_backends()  # imports the installed built-in backends
    for dtype in dtypes:
        want = dataclasses.replace(options, compute_dtype=dtype)
        for name, cls in PLAN_BACKENDS.items():
            reason = cls.unavailable(want)
            if reason is None and cls.opt_in and cls.quantized and not quantized:
                reason = f"plan backend {name!r} is for quantized graphs"
            if reason is None:
                found.append(Candidate(name, dtype))
            elif dtype == options.compute_dtype:
                excluded[Candidate(name, dtype).label] = reason
    # numpy first, OpenVINO after the other float32 backends (it is judged against them)
    order = {"numpy": 0, "openvino": 2}
    found.sort(key=lambda c: (c.compute_dtype is not None, order.get(c.backend, 1)))
    return found, excluded


def seeded_feeds(graph: Graph, shapes: Mapping[str, Sequence[int]]) -> list[np.ndarray]:
    """Inputs to time on: standard normal floats (seed 0), zeros of other dtypes."""
    rng = np.random.default_rng(0)
    feeds = []
    for v in graph.inputs:
        shape = tuple(shapes.get(v.name, v.shape))
        feeds.append(rng.standard_normal(shape).astype(v.dtype) if v.dtype.kind == "f"
                     else np.zeros(shape, v.dtype))
    return feeds


def _deviation(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Largest |output - reference| relative to the largest |reference|, over outputs."""
    worst = 0.0
    for out, ref in zip(outputs, reference, strict=True):
        ref64 = np.asarray(ref, np.float64)
        scale = max(float(np.abs(ref64).max(initial=0.0)), 1e-30)
        diff = np.abs(np.asarray(out, np.float64) - ref64)
        worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0)) / scale)
    return worst


def openvino_tolerance(peer_deviations: Sequence[float]) -> float:
    """The largest float32 deviation from the numpy plan OpenVINO may have: float32's own
    rounding noise on this model, measured as the largest deviation of the other float32
    plan backends (``peer_deviations``), times :data:`PEER_FACTOR`, and at least
    :data:`DEVIATION_FLOOR`. A backend that computes in a narrower type (bfloat16 has a
    relative step of 2**-8) lies orders of magnitude above it."""
    return max(DEVIATION_FLOOR, PEER_FACTOR * max(peer_deviations, default=0.0))


def _build(cache: PlanCache, shapes: Mapping[str, Sequence[int]], feeds: list[np.ndarray]
           ) -> tuple[Any, list[np.ndarray], float]:
    """A candidate's plan, its outputs on ``feeds`` and the ms of that first run (a
    warm-up, not counted in the race)."""
    plan = cache.plan(shapes)
    start = time.perf_counter()
    outputs = plan.run_feeds(feeds)
    plan.backend.synchronize()
    return plan, outputs, (time.perf_counter() - start) * 1e3


def preference(labels: Sequence[Candidate]) -> list[str]:
    """Candidate labels in tie-break order: float32 first, then the order ``"auto"``
    ranks the plan backends in (priority, highest first)."""
    return [c.label for c in sorted(labels, key=lambda c: (
        c.compute_dtype is not None, -PLAN_BACKENDS[c.backend].priority))]


def _stored(store: Mapping[bytes, bytes], key: bytes, options: PlanOptions,
            quantized: bool) -> Candidate | None:
    """The stored choice for ``key``, if there is a usable one (else logged and None)."""
    value = store.get(key)
    if value is None:
        return None
    try:
        entry = json.loads(value.decode())
        choice = Candidate(str(entry["backend"]), entry["compute_dtype"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        LOGGER.warning("fast-run: ignoring a corrupt persistent-cache entry (%s); timing "
                       "again", exc)
        return None
    try:  # imports the backend's module when this process has not yet
        plan_backend_class(dataclasses.replace(options, backend=choice.backend,
                                               compute_dtype=choice.compute_dtype), quantized)
    except (RuntimeError, ValueError) as exc:
        LOGGER.warning("fast-run: the cached choice %s cannot run here (%s); timing again",
                       choice.label, exc)
        return None
    return choice


def select_plan_backend(graph: Graph, options: PlanOptions,
                        store: MutableMapping[bytes, bytes],
                        shapes: Mapping[str, Sequence[int]] | None = None,
                        digest: str | None = None, profile: bool = True
                        ) -> tuple[Selection, PlanCache] | None:
    """Choose the plan backend for ``graph`` (see the module doc).

    Args:
        graph: the model graph (before any backend's passes).
        options: plan options; ``backend`` is ignored, ``compute_dtype`` is the precision
            the user allows.
        store: the persistent cache's entries of :data:`CACHE_CATEGORY`; a new choice is
            written into it.
        shapes: input shapes (inputs not named keep the graph's).
        digest: the model digest (default :func:`graph_digest`).
        profile: time the candidates when the store has no choice; with ``False`` only
            a stored choice is used (``None`` is returned without one).

    Returns:
        The selection and the plan cache of the chosen backend, or ``None``.

    Raises:
        RuntimeError: no candidate could build and run the graph (the reasons are named).
    """
    start = time.perf_counter()
    shapes = dict(shapes or {})
    key = selection_key(digest or graph_digest(graph), graph, shapes, options)
    quantized = is_quantized(graph)
    choice = _stored(store, key, options, quantized)
    if choice is not None:
        cache = PlanCache(graph, dataclasses.replace(
            options, backend=choice.backend, compute_dtype=choice.compute_dtype))
        return Selection(choice.backend, choice.compute_dtype, True,
                         time.perf_counter() - start), cache
    if not profile:
        return None
    found, excluded = candidates(options, quantized)
    feeds = seeded_feeds(graph, shapes)
    built: dict[str, tuple[Candidate, PlanCache, Any, float]] = {}
    reference: list[np.ndarray] | None = None
    peers: list[float] = []  # the float32 deviations of numpy's (not opt-in) peers
    openvino_ok: bool | None = None
    for cand in found:
        if cand.backend == "openvino" and openvino_ok is False:
            excluded[cand.label] = "its float32 departs from the numpy plan on this model"
            continue
        try:
            cache = PlanCache(graph, dataclasses.replace(
                options, backend=cand.backend, compute_dtype=cand.compute_dtype))
            plan, outputs, first_ms = _build(cache, shapes, feeds)
        except (NotImplementedError, RuntimeError, ValueError, TypeError) as exc:
            excluded[cand.label] = f"{type(exc).__name__}: {exc}"
            continue
        if cand == Candidate("numpy"):
            reference = outputs
        elif cand.compute_dtype is None:
            deviation = float("inf") if reference is None else _deviation(outputs, reference)
            if not PLAN_BACKENDS[cand.backend].opt_in:  # the ones "auto" serves with
                peers.append(deviation)
            elif cand.backend == "openvino":
                tolerance = openvino_tolerance([d for d in peers if np.isfinite(d)])
                openvino_ok = deviation <= tolerance
                if not openvino_ok:
                    excluded[cand.label] = (
                        f"float32 deviation {deviation:.2e} from the numpy plan > "
                        f"{tolerance:.2e} ({PEER_FACTOR:g}x the other float32 backends' "
                        f"largest, at least {DEVIATION_FLOOR:.0e})")
                    continue
        built[cand.label] = (cand, cache, plan, first_ms)
    if not built:
        raise RuntimeError("fast-run: no plan backend could run the graph: " + "; ".join(
            f"{k}: {v}" for k, v in excluded.items()))
    race = time_candidates({k: v[2] for k, v in built.items()}, feeds,
                           built_ms={k: v[3] for k, v in built.items()})
    chosen, cache, *_ = built[pick(race.scores, preference([v[0] for v in built.values()]))]
    store[key] = json.dumps({"backend": chosen.backend,
                             "compute_dtype": chosen.compute_dtype}).encode()
    return Selection(chosen.backend, chosen.compute_dtype, False, time.perf_counter() - start,
                     race.scores, excluded, {k: len(v) for k, v in race.runs.items()},
                     race.seconds, race.waited), cache


__all__ = ["CACHE_CATEGORY", "DEVIATION_FLOOR", "PEER_FACTOR", "Candidate", "Selection",
           "candidates", "cpu_signature", "graph_digest", "library_versions",
           "openvino_tolerance", "preference", "select_plan_backend", "selection_key",
           "seeded_feeds"]
