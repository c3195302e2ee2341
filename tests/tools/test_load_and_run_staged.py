"""``load_and_run`` runs MegEngine dumps whose shapes depend on input values (``nms``,
``cond_take``: read in stages), plain or packed with test cases, checked or not."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np

from mge.jit.testcase import load_testcase_model, pack_testcases
from mge.lite import LiteNetwork
from mge.serialization.fbs import DType, Operator, Param, TensorValue, read_model, write_model
from mge.tools import dump_with_testcase
from mge.tools.load_and_run import main

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "lite" / "dynamic" / "dynamic.npz"
with np.load(GOLDEN) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}
META = json.loads(str(ARRAYS["__meta__"]))
NET = "nms_filter"


def _inputs(case: str) -> list[np.ndarray]:
    """The case's inputs in sorted-name order (a test case's order)."""
    return [ARRAYS[f"{NET}__{case}__in__{n}"] for n in sorted(META[NET]["inputs"])]


def _checked_file(cases: list[str], maxerr: float = 1e-4) -> bytes:
    """``nms_filter`` with output 0 checked by ``AssertEqual`` against ``boxes:expect``
    (as MegEngine writes a checked dump), packed with ``cases``."""
    model = read_model(ARRAYS[f"{NET}__file"].tobytes(), "nms_filter")
    out = model.outputs[0]
    name = model.var_name(out.var_id) or "out"
    expect, checked = len(model.vars), len(model.vars) + 1
    want = [ARRAYS[f"{NET}__{c}__out__0"] for c in cases]
    h2d = next(op for op in model.operators if op.type == "Host2DeviceCopy")
    model.operators += [
        Operator(type="Host2DeviceCopy", outputs=[expect], params=h2d.params,
                 comp_nodes=h2d.comp_nodes, tensors=[TensorValue(
            want[0].shape, DType.from_numpy(want[0].dtype), None, name=f"{name}:expect")]),
        Operator(type="AssertEqual", inputs=[expect, out.var_id], outputs=[checked],
                 params=[Param("AssertEqual", {"maxerr": maxerr, "verbose": False})])]
    model.vars += [dataclasses.replace(model.vars[out.var_id], name=f"{name}:expect",
                                       shape=None),
                   dataclasses.replace(model.vars[out.var_id], name="assert_eq", shape=None)]
    model.outputs[0] = out._replace(var_id=checked)
    names = sorted([*META[NET]["inputs"], f"{name}:expect"])
    values = []
    for case, w in zip(cases, want, strict=True):
        by_name = {**dict(zip(sorted(META[NET]["inputs"]), _inputs(case), strict=True)),
                   f"{name}:expect": w}
        values.append([by_name[n] for n in names])
    return pack_testcases(write_model(model), values)


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_plain_staged_file_runs(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "nms.mge"
    path.write_bytes(ARRAYS[f"{NET}__file"].tobytes())
    status, out, err = _run(capsys, path, "--iter", "2", "--model-info")
    assert status == 0, err
    assert "run testcase: 0" in out and "(value-dependent)" in out
    assert re.search(r"ops: \d+ \(.*NMSKeep", out)


def test_unchecked_test_cases_run(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cases = META[NET]["cases"]
    path = tmp_path / "nms.mgbtest"
    path.write_bytes(pack_testcases(ARRAYS[f"{NET}__file"].tobytes(),
                                    [_inputs(c) for c in cases]))
    status, out, err = _run(capsys, path, "--iter", "1")
    assert status == 0, err
    assert out.count("no expected values, outputs not checked") == len(cases)


def test_checked_test_cases_pass_and_fail(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cases = ["random", "overlapping"]  # 21 and 1 kept boxes: the checked shape changes
    path = tmp_path / "nms.mgbtest"
    path.write_bytes(_checked_file(cases))
    model = load_testcase_model(path)
    assert model.staged is not None and [c is not None for c in model.checks] == \
        [True, False, False]
    assert sorted(v.name for v in model.graph.inputs) == sorted(META[NET]["inputs"])
    status, out, err = _run(capsys, path, "--iter", "1")
    assert status == 0, err
    for k in range(len(cases)):
        assert re.search(rf"testcase #{k} output '\S+': max_err=\S+ maxerr=0.0001 OK", out)
    bad = _checked_file(cases)
    blob = bytearray(bad)
    want = ARRAYS[f"{NET}__random__out__0"].tobytes()
    at = bytes(blob).rindex(want[:32])  # corrupt the last case's expected boxes
    blob[at:at + 4] = np.float32(1e3).tobytes()
    path.write_bytes(bytes(blob))
    status, out, _ = _run(capsys, path, "--iter", "1")
    assert status == 1 and "FAIL testcase" in out


def test_lite_loads_a_staged_test_case_file() -> None:
    data = _checked_file(["random"])
    network = LiteNetwork()
    network.load(io.BytesIO(data))
    assert sorted(network.get_all_input_name()) == sorted(META[NET]["inputs"])
    for name, value in zip(sorted(META[NET]["inputs"]), _inputs("random"), strict=True):
        network.get_io_tensor(name).set_data_by_copy(value)
    network.forward()
    network.wait()
    got = network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()
    np.testing.assert_allclose(got, ARRAYS[f"{NET}__random__out__0"], rtol=1e-6, atol=1e-5)


def test_dump_with_testcase_refuses_clearly(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "nms.mge"
    path.write_bytes(ARRAYS[f"{NET}__file"].tobytes())
    assert dump_with_testcase.main([str(path), "-o", str(tmp_path / "o.mgbtest"),
                                    "-d", "#rand(0,1)"]) == 2
    assert "shapes depend on input values" in capsys.readouterr().err
