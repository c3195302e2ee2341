"""``LiteNetwork.forward``'s short path (no observers or callbacks): outputs follow input
shape changes in both directions, each forward's values are its own, and an output
tensor's layout is always its data's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.lite import LiteDataType, LiteLayout, LiteTensor
from mge.runtime.plan import available_plan_backends

from .running import lite_network


@pytest.mark.parametrize("backend", [b for b in ("numpy", "onnxruntime")
                                     if b in available_plan_backends()])
def test_outputs_follow_the_input_shape_both_ways(small_model: Path, backend: str) -> None:
    network = lite_network(small_model, backend)
    data = network.get_io_tensor(network.get_input_name(0))
    out = network.get_io_tensor(network.get_output_name(0))
    rng = np.random.default_rng(0)
    seen = {}
    for batch in (1, 3, 1, 3):
        x = rng.standard_normal((batch, 3, 8, 8)).astype(np.float32)
        data.set_data_by_copy(x)
        network.forward()
        network.wait()
        got = out.to_numpy()
        assert out.layout.shapes == list(got.shape) and got.shape[0] == batch
        (want,) = network.plan.run_feeds([x])[:1]
        np.testing.assert_array_equal(got, want)
        seen.setdefault(batch, []).append(got)
    assert not np.array_equal(seen[1][0], seen[1][1])  # fresh inputs, fresh outputs


def test_setting_data_keeps_the_layout_in_step() -> None:
    tensor = LiteTensor(LiteLayout([2, 2], LiteDataType.LITE_FLOAT))
    tensor._set(np.ones((2, 2), np.float32))
    assert tensor.layout.shapes == [2, 2]
    tensor._set(np.ones((4,), np.int32))
    assert tensor.layout.shapes == [4] and tensor.layout.data_type == LiteDataType.LITE_INT
    empty = LiteTensor()
    empty.to_numpy()  # an empty layout reads as shape (0,)
    empty._set(np.zeros((0,), np.float32))
    assert empty.layout.shapes == [0]


def test_a_new_plan_cache_is_used_by_the_next_forward(small_model: Path,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The forward keeps the last (cache, shapes, plan); a policy set after load that
    replaces the plan cache (fast-run choosing again) must not run the old plan."""
    from mge.lite import LiteAlgoSelectStrategy

    monkeypatch.setenv("MGE_FAST_RUN_CACHE", str(tmp_path / "fast_run.cache"))
    network = lite_network(small_model, "auto")
    data = network.get_io_tensor(network.get_input_name(0))
    data.set_data_by_copy(np.ones((1, 3, 8, 8), np.float32))
    network.forward()
    network.wait()
    before = network._cache
    network.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
    assert network._cache is not before
    network.forward()
    network.wait()
    assert network._last_plan is not None and network._last_plan[0] is network._cache
    assert network._last_plan[2] is network.plan
