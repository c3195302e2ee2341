"""Memory bombs: a few hundred bytes of ``.mge`` declaring gigabytes are refused at load time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.graph.ir import Graph
from mge.jit.input_data import InputDataError, rand_data
from mge.jit.testcase import load_testcase_model
from mge.lite import LiteNetwork
from mge.ops.elemwise import Elemwise
from mge.ops.shape import Broadcast
from mge.serialization.fbs import MgeFormatError
from mge.serialization.memory_budget import (
    BUDGET_ENV,
    MemoryBudgetError,
    format_size,
    machine_memory,
    parse_size,
    resolve_budget,
)
from mge.serialization.mge_graph import dump_graph, graph_from_bytes, load_graph
from mge.tools.load_and_run import main as load_and_run

GiB = 1 << 30


def _bomb(*inputs: tuple[str, tuple[int, ...], str]) -> bytes:
    """A model adding its inputs (the declared sizes cost no file bytes)."""
    g = Graph()
    xs = [g.add_input(name, shape, dtype) for name, shape, dtype in inputs]
    (y,) = g.add_op(Elemwise(mode="RELU"), [xs[0]])
    for x in xs[1:]:
        (y,) = g.add_op(Elemwise(mode="ADD"), [y, x])
    g.outputs = [y]
    return dump_graph(g)[0]


def _broadcast_bomb(rows: int) -> bytes:
    g = Graph()
    x = g.add_input("x", (1, 4), "float32")
    (y,) = g.add_op(Broadcast(shape=(rows, 4)), [x])
    g.outputs = [y]
    return dump_graph(g)[0]


def test_sixteen_gib_input_in_500_bytes(monkeypatch) -> None:  # noqa: ANN001
    data = _bomb(("data", (4, 1 << 30), "float32"))
    assert len(data) < 600
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    with pytest.raises(MgeFormatError, match=r"^bomb\.mge: operator #0 \(Host2DeviceCopy\): "
                       r"input 'data' of shape \(4, 1073741824\) float32 needs 16\.0 GiB, "
                       r"which exceeds the load memory budget of 1\.0 GiB .*"
                       + BUDGET_ENV):
        graph_from_bytes(data, "bomb.mge")


def test_default_budget_is_below_the_machine_memory() -> None:
    memory = machine_memory()
    budget = resolve_budget()
    assert 0 < budget < (memory if memory else float("inf"))
    huge = (1 << 31, 1 << 31)  # 16 EiB: more than any machine has
    with pytest.raises(MgeFormatError, match=format_size(budget)):
        graph_from_bytes(_bomb(("data", huge, "float32")), "bomb.mge")


def test_inputs_and_constants_add_up(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    data = _bomb(("a", (100 << 20,), "float32"), ("b", (100 << 20,), "float32"))
    with pytest.raises(MgeFormatError, match=r"input 'b' .* needs 400\.0 MiB, which exceeds "
                       r"the load memory budget of 1\.0 GiB left after 400\.0 MiB of inputs "
                       r"and constants and the 400\.0 MiB result of output 0 of Elemwise"):
        graph_from_bytes(data, "two.mge")
    graph_from_bytes(data, "two.mge", memory_budget="1200MiB")  # 2 inputs + 1 result


def test_intermediate_results_count(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    with pytest.raises(MgeFormatError, match=r"operator #\d+ \(Broadcast\): output 0 of "
                       r"Broadcast.* shape \(134217728, 4\) float32 needs 2\.0 GiB"):
        graph_from_bytes(_broadcast_bomb(1 << 27), "b.mge")
    graph_from_bytes(_broadcast_bomb(1 << 10), "b.mge")


def test_option_overrides_environment(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "bomb.mge"
    path.write_bytes(_bomb(("data", (4, 1 << 30), "float32")))
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    loaded = load_graph(str(path), memory_budget="64GiB")  # a description: nothing allocated
    assert loaded.graph.inputs[0].shape == (4, 1 << 30)
    with pytest.raises(MgeFormatError, match="budget of 2.0 GiB"):
        load_graph(str(path), memory_budget=2 * GiB)


@pytest.mark.parametrize("bad", ["lots", "-1", "0", "1e400", "nan"])
def test_bad_budget_settings(monkeypatch, bad: str) -> None:  # noqa: ANN001
    monkeypatch.setenv(BUDGET_ENV, bad)
    with pytest.raises(MemoryBudgetError, match=BUDGET_ENV):
        resolve_budget()
    with pytest.raises(MemoryBudgetError, match="memory_budget"):
        resolve_budget(bad)


@pytest.mark.parametrize(("text", "size"), [
    ("123", 123), ("1k", 1000), ("1.5KiB", 1536), ("2GiB", 2 * GiB), ("2 gb", 2 * 10**9),
    ("1T", 10**12), ("1e3", 1000), ("8MiB", 8 << 20)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_lite_and_test_cases_refuse_bombs(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    path = tmp_path / "bomb.mge"
    path.write_bytes(_bomb(("data", (4, 1 << 30), "float32")))
    with pytest.raises(MgeFormatError, match="budget"):
        load_testcase_model(path)
    with pytest.raises(Exception, match="budget") as info:
        LiteNetwork().load(str(path))
    assert not isinstance(info.value, MemoryError)


def test_load_and_run_reports_a_bomb_in_one_line(monkeypatch, tmp_path: Path,
                                                 capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv(BUDGET_ENV, "1GiB")
    path = tmp_path / "bomb.mge"
    path.write_bytes(_bomb(("data", (4, 1 << 30), "float32")))
    assert load_and_run([str(path), "--cpu", "--iter", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "16.0 GiB" in err[0] and "Traceback" not in err[0]


def test_real_model_fits_default_budget() -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"
    models = sorted(fixture.rglob("*.mge"))  # plain models real MegEngine wrote
    assert models
    for path in models[:5]:
        load_graph(str(path))
    np.testing.assert_equal(resolve_budget(4096), 4096)


def test_random_data_is_checked_before_allocating() -> None:
    with pytest.raises(InputDataError, match=r"shape \(99999999, 99999999\) needs .* more "
                       "than the memory budget"):
        rand_data("#rand(0,1,99999999,99999999)", (1,))
