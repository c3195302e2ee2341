"""Fast-run plan backend selection: a choice by timing, stored and reused, bad entries
ignored, OpenVINO only within tolerance, precisions only as allowed, numpy's results."""

from __future__ import annotations

import importlib.util
import json
import logging

import numpy as np
import pytest

from mge.graph import Graph
from mge.ops import Elemwise
from mge.runtime import fast_run, fast_run_timing
from mge.runtime.fast_run import (
    Candidate,
    candidates,
    graph_digest,
    preference,
    seeded_feeds,
    select_plan_backend,
    selection_key,
)
from mge.runtime.plan import PLAN_BACKENDS, PlanCache, PlanOptions

from .whole_graph import fixture_model

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def _numpy_outputs(graph, feeds):
    return PlanCache(graph, PlanOptions(backend="numpy")).plan().run_feeds(feeds)


def test_selection_times_every_candidate_and_stores_the_fastest() -> None:
    graph, _ = fixture_model()
    store: dict[bytes, bytes] = {}
    selection, cache = select_plan_backend(graph, PlanOptions(threads=1), store)
    found, _ = candidates(PlanOptions(threads=1))
    assert not selection.from_cache and selection.seconds > 0
    assert set(selection.timings_ms) | set(selection.excluded) >= {c.label for c in found}
    # the fastest, or one within the tie band that comes first in preference order
    chosen = selection.candidate.label
    assert chosen == fast_run_timing.pick(selection.timings_ms, preference(found))
    assert selection.timings_ms[chosen] <= fast_run_timing.TIE_RATIO * min(
        selection.timings_ms.values())
    assert cache.options.backend == selection.backend
    (value,) = store.values()
    assert json.loads(value) == {"backend": selection.backend, "compute_dtype": None}
    assert selection.describe().startswith(f"fast-run: {chosen} chosen by timing")
    assert 0 < selection.timing_seconds < selection.seconds
    assert set(selection.runs) == set(selection.timings_ms)
    feeds = seeded_feeds(graph, {})
    for got, want in zip(cache.plan().run_feeds(feeds), _numpy_outputs(graph, feeds),
                         strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), rtol=1e-4)


def test_preference_puts_float32_and_auto_s_order_first() -> None:
    pytest.importorskip("torch")  # the torch plan backend registers only with torch
    found = [Candidate("numpy"), Candidate("torch", "bfloat16"), Candidate("torch"),
             Candidate("onnxruntime")]
    order = preference(found)
    assert order[-1] == "torch-bfloat16"
    assert order.index("onnxruntime-float32") < order.index("torch-float32") < \
        order.index("numpy-float32")


def test_a_stored_choice_skips_timing() -> None:
    graph, _ = fixture_model()
    options = PlanOptions(threads=1)
    key = selection_key(graph_digest(graph), graph, {}, options)
    store = {key: json.dumps({"backend": "numpy", "compute_dtype": None}).encode()}
    selection, cache = select_plan_backend(graph, options, store)
    assert selection.from_cache and selection.backend == "numpy"
    assert selection.timings_ms == {} and cache.backend_class.name == "numpy"
    # another thread count is another key: nothing stored for it, and no timing wanted
    assert select_plan_backend(graph, PlanOptions(threads=2), store, profile=False) is None


@pytest.mark.parametrize("value", [b"\xff not json", b'{"backend": "numpy"}', b"[1, 2]",
                                   b'{"backend": "no-such-backend", "compute_dtype": null}'])
def test_a_bad_stored_entry_is_ignored_with_a_warning(
        value: bytes, caplog: pytest.LogCaptureFixture) -> None:
    g, _ = fixture_model("convnet_opt")
    options = PlanOptions(threads=1)
    key = selection_key(graph_digest(g), g, {}, options)
    store = {key: value}
    with caplog.at_level(logging.WARNING, "mge.runtime.fast_run"):
        selection, _ = select_plan_backend(g, options, store)
    assert not selection.from_cache and selection.timings_ms
    assert "timing again" in caplog.text
    assert json.loads(store[key])["backend"] == selection.backend  # overwritten


def _weighted(weight: float) -> str:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    g.outputs = g.add_op(Elemwise(mode="MUL"), [x, g.add_const(np.float32(weight))])
    return graph_digest(g)


def test_the_key_names_model_shapes_threads_precision_versions_and_cpu() -> None:
    graph, _ = fixture_model("convnet_opt")
    other, _ = fixture_model("resnet18_w4_fuse")
    name = graph.inputs[0].name
    shape = (2, *graph.inputs[0].shape[1:])
    base = selection_key(graph_digest(graph), graph, {}, PlanOptions(threads=1))
    variants = [selection_key(graph_digest(graph), graph, {name: shape}, PlanOptions(threads=1)),
                selection_key(graph_digest(graph), graph, {}, PlanOptions(threads=2)),
                selection_key(graph_digest(graph), graph, {},
                              PlanOptions(threads=1, compute_dtype="bfloat16"))]
    assert len({base, *variants}) == 4
    assert graph_digest(graph) == graph_digest(fixture_model("convnet_opt")[0])
    assert graph_digest(graph) != graph_digest(other)
    assert _weighted(1.0) != _weighted(2.0)  # weights are part of the model digest
    entry = json.loads(base)
    assert {"numpy", "mge"} <= set(entry["versions"]) and entry["cpu"]


def test_reduced_precision_only_when_allowed() -> None:
    found, _ = candidates(PlanOptions())
    assert found[0] == Candidate("numpy") and all(c.compute_dtype is None for c in found)
    found, excluded = candidates(PlanOptions(compute_dtype="bfloat16"))
    assert Candidate("numpy") in found  # float32 stays allowed
    assert "numpy-bfloat16" in excluded
    low = [c for c in found if c.compute_dtype == "bfloat16"]
    assert all(PLAN_BACKENDS[c.backend].unavailable(
        PlanOptions(compute_dtype="bfloat16")) is None for c in low)


def test_the_openvino_tolerance_scales_with_float32_s_noise() -> None:
    assert fast_run.openvino_tolerance([]) == fast_run.DEVIATION_FLOOR  # numpy alone
    assert fast_run.openvino_tolerance([1e-9, 2e-9]) == fast_run.DEVIATION_FLOOR
    assert fast_run.openvino_tolerance([1e-6, 2e-5]) == pytest.approx(
        fast_run.PEER_FACTOR * 2e-5)
    # bfloat16's rounding (relative step 2**-8) is far above float32's noise
    assert fast_run.openvino_tolerance([1e-5]) < 2.0 ** -8 / 10


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino (pip install 'mge[openvino]')")
def test_openvino_competes_only_within_float32_s_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.runtime import plan_openvino

    graph, _ = fixture_model()
    selection, _ = select_plan_backend(graph, PlanOptions(threads=1), {})
    assert "openvino-float32" in selection.timings_ms  # as exact as float32 on this model
    reduced = next((p for p in (("bf16", "BF16"), ("f16", "FP16"))
                    if p[1] in plan_openvino.cpu_capabilities()), None)
    if reduced is None:
        pytest.skip("this CPU has no bf16/f16 inference in OpenVINO")
    # a float32 plan that really computes in a 16-bit type is left out, with the reason
    monkeypatch.setitem(plan_openvino.PRECISIONS, None, reduced)
    selection, _ = select_plan_backend(graph, PlanOptions(threads=1), {})
    assert "openvino-float32" not in selection.timings_ms
    assert "float32 deviation" in selection.excluded["openvino-float32"]
    assert selection.backend != "openvino"


def test_large_constants_enter_the_digest_by_a_sample() -> None:
    def digest(first: float) -> str:
        g = Graph()
        x = g.add_input("x", (4096,), "float32")
        w = np.ones(4096, np.float32)
        w[0] = first
        g.outputs = g.add_op(Elemwise(mode="MUL"), [x, g.add_const(w)])
        return graph_digest(g)

    assert digest(1.0) == digest(1.0) != digest(2.0)  # element 0 is in the sample


def test_int8_backends_are_left_out_for_float_graphs() -> None:
    found, excluded = candidates(PlanOptions(threads=1))
    assert all(not (PLAN_BACKENDS[c.backend].opt_in and PLAN_BACKENDS[c.backend].quantized)
               for c in found)
    if "onnxruntime-int8" in PLAN_BACKENDS:
        assert "quantized graphs" in excluded["onnxruntime-int8-float32"]
        found, _ = candidates(PlanOptions(threads=1), quantized=True)
        assert Candidate("onnxruntime-int8") in found
