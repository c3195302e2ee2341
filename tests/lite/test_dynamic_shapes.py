"""mge.lite runs MegEngine dumps whose shapes depend on input values (``nms``'s kept count,
``cond_take``'s selected count) like real MegEngine Lite: the golden outputs in
``tests/fixtures/lite/dynamic/dynamic.npz`` come from ``megenginelite`` 1.13
(``gen_dynamic.py`` beside them)."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mge.lite import LiteAlgoSelectStrategy, LiteConfig, LiteNetwork
from mge.runtime.plan import PlanOptions
from mge.runtime.staged import StagedPlanCache
from mge.serialization.mge_graph import ValueDependentModel, load_graph
from mge.serialization.mge_staged import StagedModel
from tests.oracle import oracle_python, requires_oracle

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "lite" / "dynamic" / "dynamic.npz"
with np.load(GOLDEN) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}
META = json.loads(str(ARRAYS["__meta__"]))
CASES = [(net, case) for net, m in META.items() for case in m["cases"]]
BACKENDS = ["numpy", "torch"]


def _network(net: str, backend: str = "numpy") -> LiteNetwork:
    config = LiteConfig()
    config.plan_backend = backend
    network = LiteNetwork(config)
    network.load(ARRAYS[f"{net}__file"].tobytes())
    return network


def _run(network: LiteNetwork, net: str, case: str) -> list[np.ndarray]:
    for name in META[net]["inputs"]:
        network.get_io_tensor(name).set_data_by_copy(ARRAYS[f"{net}__{case}__in__{name}"])
    network.forward()
    network.wait()
    return [network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()]


def _check(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.shape} {got.dtype} vs MegEngine's {want.shape} {want.dtype}"
    if want.dtype.kind == "f":  # exp/sigmoid round differently in the last bit; box
        # corners near 0 are differences of values near 50 (one ulp: 4e-6)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("net", list(META))
def test_lite_runs_megengine_dynamic_shape_dumps(net: str, backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    network = _network(net, backend)
    assert network.get_all_input_name() == META[net]["input_names"]
    assert network.get_all_output_name() == META[net]["output_names"]
    for case in META[net]["cases"]:  # one network: the kept count changes between runs
        outs = _run(network, net, case)
        assert len(outs) == META[net]["outputs"]
        for k, got in enumerate(outs):
            _check(got, ARRAYS[f"{net}__{case}__out__{k}"], f"{net}/{case}/output {k}")


def test_load_graph_names_the_value_dependent_operator() -> None:
    with pytest.raises(ValueDependentModel, match=r"Subtensor.*depends on input values") \
            as info:
        load_graph(io.BytesIO(ARRAYS["detect_post__file"].tobytes()))
    assert info.value.operator > 0
    with pytest.raises(ValueDependentModel, match="CondTake.*mask's values"):
        load_graph(io.BytesIO(ARRAYS["cond_take__file"].tobytes()))


def test_stages_follow_the_dynamic_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    """``nms`` then ``cond_take``: three static stages, the later ones read with the
    values the earlier ones computed (again when a count changes, not when it repeats)."""
    staged = StagedModel.from_bytes(ARRAYS["nms_filter__file"].tobytes())
    cache = StagedPlanCache(staged, PlanOptions(backend="numpy"))
    starts = [cache.first_stage.start]
    read = staged.stage
    monkeypatch.setattr(staged, "stage", lambda start, values: (starts.append(start),
                                                                 read(start, values))[1])
    plan = cache.plan()
    for case, count in (("random", 21), ("overlapping", 1)):
        feeds = {n: ARRAYS[f"nms_filter__{case}__in__{n}"] for n in ("boxes", "scores")}
        outs = plan.run_feeds([feeds[v.name] for v in plan.inputs])
        assert [o.shape for o in outs] == [(count, 4), (count,), (count,)]
        assert [o.shape for o in cache.graph.outputs] == [(count, 4), (count,), (count,)]
    assert len(starts) == 5 and starts[0] == 0 < starts[1] < starts[2]
    assert starts[3:] == starts[1:3]
    feeds = {n: ARRAYS[f"nms_filter__random__in__{n}"] for n in ("boxes", "scores")}
    plan.run_feeds([feeds[v.name] for v in plan.inputs])
    assert len(starts) == 5


def test_new_input_shapes_replan_every_stage() -> None:
    network = _network("cond_take")
    x = np.arange(-5, 7, dtype=np.float32).reshape(3, 4)
    network.get_io_tensor("x").set_data_by_copy(x)
    network.forward()
    network.wait()
    values, where = (network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name())
    np.testing.assert_array_equal(values, x[x > 0])
    np.testing.assert_array_equal(where, np.flatnonzero(x > 0).astype(np.int32))


_LITE_RUN = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from gen_dynamic import run_lite
feeds = dict(np.load(sys.argv[3]))
outs, names = run_lite(open(sys.argv[2], "rb").read(), feeds)
np.savez(sys.argv[4], **dict(zip(names["output_names"], outs)))
"""


@requires_oracle
@pytest.mark.parametrize("net", list(META))
def test_fresh_inputs_match_megengine(net: str, tmp_path: Path) -> None:
    """New random inputs: mge.lite and real MegEngine Lite agree on every output."""
    rng = np.random.default_rng(7)
    first = META[net]["cases"][0]
    feeds = {n: (ARRAYS[f"{net}__{first}__in__{n}"]
                 + rng.normal(size=ARRAYS[f"{net}__{first}__in__{n}"].shape).astype("f4"))
             for n in META[net]["inputs"]}
    (tmp_path / "net.mge").write_bytes(ARRAYS[f"{net}__file"].tobytes())
    np.savez(tmp_path / "in.npz", **feeds)
    subprocess.run([oracle_python(), "-c", _LITE_RUN, str(GOLDEN.parent),
                    str(tmp_path / "net.mge"), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, timeout=300,
                   env={**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0"},
                   capture_output=True)
    with np.load(tmp_path / "out.npz") as z:
        want = {k: z[k] for k in z.files}
    network = _network(net)
    for name, value in feeds.items():
        network.get_io_tensor(name).set_data_by_copy(value)
    network.forward()
    network.wait()
    assert list(want) == network.get_all_output_name()
    for name, expected in want.items():
        _check(network.get_io_tensor(name).to_numpy(), expected, f"{net}/{name}")


def test_shared_and_profiled_networks_run_stages() -> None:
    src = _network("nms_filter")
    dst = LiteNetwork()
    dst.share_weights_with(src)
    src.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
    for network in (src, dst):
        for k, got in enumerate(_run(network, "nms_filter", "random")):
            _check(got, ARRAYS[f"nms_filter__random__out__{k}"], f"output {k}")
