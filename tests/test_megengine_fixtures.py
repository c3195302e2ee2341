"""The golden MegEngine 1.13 fixtures (tests/fixtures/megengine) and the oracle tooling.

The fixture checks need no MegEngine; the ``requires_oracle`` ones re-run the
files in real MegEngine through ``tests/oracle.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.oracle import (
    FIXTURES,
    TOOLS,
    OracleError,
    describe_in_megengine,
    requires_oracle,
    run_in_megengine,
)

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
ENTRIES: dict[str, dict[str, Any]] = MANIFEST["fixtures"]
FP16 = {"convnet_io16xc32": 5e-3, "convnet_ioc16": 1e-2}


def load_tool(name: str) -> ModuleType:
    """Import a stdlib-only script from tools/oracle."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fbs_peek = load_tool("fbs_peek")


def arrays(name: str) -> dict[str, np.ndarray]:
    """All arrays stored for a fixture."""
    with np.load(FIXTURES / ENTRIES[name]["npz"]) as data:
        return {k: data[k] for k in data.files}


def test_manifest_covers_exactly_the_files() -> None:
    listed = {"manifest.json"}
    for entry in ENTRIES.values():
        listed |= {entry["file"], entry["npz"], entry["graph"]}
        data = (FIXTURES / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size"]
    assert {p.name for p in FIXTURES.iterdir()} == listed
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 3 * 2**20
    assert MANIFEST["megengine_version"] == "1.13.0"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_file_structure_matches_manifest(name: str) -> None:
    entry = ENTRIES[name]
    info = fbs_peek.peek((FIXTURES / entry["file"]).read_bytes())
    model = info["model"]
    assert (model["mge_version"], model["model_version"]) == (101300, 2)
    counts: dict[str, int] = {}
    for opr in model["oprs"]:
        key = f"{opr['type']} v{opr['opr_version']} param={opr['param_tag']}"
        counts[key] = counts.get(key, 0) + 1
    assert counts == entry["file_oprs"]
    h2d = [t for op in model["oprs"] if op["type"] == "Host2DeviceCopy" for t in op["tensors"]]
    assert sorted(t["name"] for t in h2d) == sorted(i["name"] for i in entry["file_inputs"])
    assert info["container"] == entry["container"]
    assert len(info.get("testcases", [])) == entry["num_testcases"]


@pytest.mark.parametrize("name", sorted(set(ENTRIES) - {"clip_bug"}))
def test_megengine_ran_the_file_like_the_eager_net(name: str) -> None:
    data = arrays(name)
    tol = FP16.get(name, 1e-4)
    for out in ENTRIES[name]["outputs"]:
        key = out["name"]
        # a test-case file's output is its AssertEqual var, which passes `logits` through
        expected = data.get(f"eager/{key}", data.get("eager/logits"))
        assert expected is not None
        for runner in ("lite", "graph"):
            np.testing.assert_allclose(data[f"{runner}/{key}"], expected, rtol=tol, atol=tol)


def test_clip_fixture_records_the_megengine_dump_bug() -> None:
    data = arrays("clip_bug")
    x = data["input/data"]
    np.testing.assert_array_equal(data["eager/out"], np.clip(x, 0, 6))
    # the file says MIN(c0, MAX(x, c0)) with c0 = 0: zeros everywhere
    np.testing.assert_array_equal(data["lite/out"], np.zeros_like(x))
    np.testing.assert_array_equal(data["graph/out"], np.zeros_like(x))
    modes = [
        op["params"]["mode"] for op in graph_json("clip_bug")["oprs"] if op["type"] == "Elemwise"
    ]
    assert modes == ["MAX", "MIN"]


def graph_json(name: str) -> dict[str, Any]:
    """MegEngine's load_graph view of a fixture."""
    return json.loads((FIXTURES / ENTRIES[name]["graph"]).read_text())


def test_testcase_container_layout() -> None:
    raw = (FIXTURES / ENTRIES["testcase_no_assert"]["file"]).read_bytes()
    assert raw[:8] == b"mgbtest0"
    assert struct.unpack_from("<I", raw, 8)[0] == 2
    info = fbs_peek.peek(raw)
    for case in info["testcases"]:
        assert [op["type"] for op in case["oprs"]] == ["SharedDeviceTensor"]
    data = arrays("testcase_no_assert")
    np.testing.assert_array_equal(data["testcase0/data"], data["input/data"])
    np.testing.assert_array_equal(data["testcase1/data"], data["input/data"][:, :, ::-1])
    # with AssertEqual: the expected outputs are extra inputs named "<out>:expect"
    assert sorted(i["name"] for i in ENTRIES["testcase_assert"]["file_inputs"]) == [
        "data",
        "logits:expect",
    ]
    assert_data = arrays("testcase_assert")
    np.testing.assert_allclose(
        assert_data["testcase0/logits:expect"], assert_data["eager/logits"], rtol=1e-5, atol=1e-5
    )


def test_float16_options_change_the_graph_not_the_io() -> None:
    for name in FP16:
        entry = ENTRIES[name]
        assert [i["dtype"] for i in entry["file_inputs"]] == ["float32"]
        assert [o["dtype"] for o in entry["outputs"]] == ["float32"]
        convs = [op for op in graph_json(name)["oprs"] if op["type"] == "ConvolutionForward"]
        assert {op["outputs"][0]["dtype"] for op in convs} == {"float16"}
    assert ENTRIES["convnet_io16xc32"]["metadata"]["optimize_options"] == 65
    assert ENTRIES["convnet_ioc16"]["metadata"]["optimize_options"] == 66


#: MegEngine's float32 kernels take other SIMD paths on other CPUs: the fixtures (made on an
#: AMD EPYC) come back a few ulp off on an Intel Xeon (measured: 1.2e-7 absolute, 4.6e-6
#: relative on values near 0.003)
MEGENGINE_CPU_DRIFT = {"rtol": 1e-5, "atol": 1e-6}


@requires_oracle
@pytest.mark.parametrize("runner", ["lite", "graph"])
def test_run_in_megengine_reproduces_the_fixture(runner: str) -> None:
    data = arrays("two_outputs")
    outputs = run_in_megengine(
        FIXTURES / ENTRIES["two_outputs"]["file"], {"data": data["input/data"]}, runner=runner
    )
    assert sorted(outputs) == ["logits", "prob"]
    for key, value in outputs.items():
        np.testing.assert_allclose(value, data[f"{runner}/{key}"], **MEGENGINE_CPU_DRIFT)


@requires_oracle
def test_run_in_megengine_takes_uint8_inputs_and_test_case_files() -> None:
    data = arrays("preprocess")
    outputs = run_in_megengine(FIXTURES / "preprocess.mge", {"data": data["input/data"]})
    np.testing.assert_allclose(outputs["logits"], data["lite/logits"], **MEGENGINE_CPU_DRIFT)
    # a test-case container runs on its embedded inputs
    (value,) = run_in_megengine(FIXTURES / "testcase_assert.mgbtest", {}).values()
    np.testing.assert_allclose(value, arrays("testcase_assert")["eager/logits"], atol=1e-5)


@requires_oracle
def test_describe_in_megengine_matches_the_committed_view() -> None:
    summary = describe_in_megengine(FIXTURES / "convnet_fuse_cbn.mge")
    assert summary["op_types"] == ENTRIES["convnet_fuse_cbn"]["op_types"]
    assert summary["oprs"] == graph_json("convnet_fuse_cbn")["oprs"]


@requires_oracle
def test_run_in_megengine_reports_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mge"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(OracleError):
        run_in_megengine(bad, {})
