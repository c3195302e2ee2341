"""Run real MegEngine 1.13 (the oracle) from tests, through a subprocess.

MegEngine 1.13 only exists for Python <= 3.10, so it lives in its own venv
(``.oracle/``, see ``tools/oracle/install.sh``) and is never imported here.
``tests`` is a package (the repository root is on ``sys.path`` under pytest), so
tests use::

    from tests.oracle import requires_oracle, run_in_megengine

    @requires_oracle
    def test_megengine_reads_our_file(tmp_path):
        outputs = run_in_megengine(path, {"data": x})

``requires_oracle`` marks a test ``oracle`` (``-m "not oracle"`` deselects it)
and skips it, with a visible reason, when the oracle interpreter is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools" / "oracle"
RUN_MGE_FILE = TOOLS / "run_mge_file.py"
FIXTURES = REPO / "tests" / "fixtures" / "megengine"
LITE_DRIVER = REPO / "tests" / "fixtures" / "lite" / "dynamic" / "run_lite.py"


def oracle_python() -> str:
    """Path of the oracle interpreter: ``$MGE_ORACLE_PYTHON`` or ``<repo>/.oracle/bin/python``."""
    return os.environ.get("MGE_ORACLE_PYTHON") or str(REPO / ".oracle" / "bin" / "python")


def oracle_available() -> bool:
    """Whether the oracle interpreter exists and is executable."""
    path = oracle_python()
    return os.path.isfile(path) and os.access(path, os.X_OK)


SKIP_REASON = (
    f"real MegEngine 1.13 oracle not found at {oracle_python()} "
    "(run tools/oracle/install.sh or set MGE_ORACLE_PYTHON)"
)


def requires_oracle(obj: Any) -> Any:
    """Decorator: mark a test (function or class) ``oracle`` and skip it without the oracle."""
    return pytest.mark.oracle(pytest.mark.skipif(not oracle_available(), reason=SKIP_REASON)(obj))


class OracleError(RuntimeError):
    """MegEngine failed to load or run a file."""


def _run_tool(
    mge_path: str | os.PathLike[str],
    inputs: dict[str, np.ndarray] | None,
    runner: str,
    timeout: float,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with tempfile.TemporaryDirectory(prefix="mge_oracle_") as tmp:
        work = Path(tmp)
        cmd = [
            oracle_python(),
            str(RUN_MGE_FILE),
            str(Path(mge_path).resolve()),
            "--runner",
            runner,
            "--summary",
            str(work / "summary.json"),
            "--out",
            str(work / "lite.npz"),
            "--graph-out",
            str(work / "graph.npz"),
        ]
        if inputs:
            np.savez(work / "inputs.npz", **{k: np.asarray(v) for k, v in inputs.items()})
            cmd += ["--inputs", str(work / "inputs.npz")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        summary_path = work / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        if proc.returncode:
            errors = {k: v for k, v in summary.items() if k.endswith("error")}
            raise OracleError(
                f"MegEngine could not run {mge_path} (exit {proc.returncode}): {errors}\n"
                f"{proc.stderr[-2000:]}"
            )
        out_file = work / ("graph.npz" if runner == "graph" else "lite.npz")
        outputs: dict[str, np.ndarray] = {}
        if runner != "none":
            with np.load(out_file) as data:
                outputs = {k: data[k] for k in data.files}
        return summary, outputs


def run_in_megengine(
    mge_path: str | os.PathLike[str],
    inputs: dict[str, np.ndarray],
    *,
    runner: str = "lite",
    timeout: float = 300,
) -> dict[str, np.ndarray]:
    """Run a ``.mge`` file in real MegEngine and return its outputs by output name.

    ``runner`` is ``"lite"`` (``megenginelite.LiteNetwork``) or ``"graph"``
    (``load_graph`` + ``compile``/``execute``).  Raises :class:`OracleError` when
    MegEngine cannot load or run the file.
    """
    if runner not in ("lite", "graph"):
        raise ValueError(f"runner must be 'lite' or 'graph', not {runner!r}")
    return _run_tool(mge_path, inputs, runner, timeout)[1]


def megengine_lite_outputs(mge_path: Path, inputs: dict[str, np.ndarray], work: Path, *,
                          timeout: float = 1200) -> list[np.ndarray]:
    """The outputs of real MegEngine Lite running ``mge_path``, in output order, through
    ``tests/fixtures/lite/dynamic/run_lite.py`` (``MEGENGINE_INTERP_ASYNC_LEVEL=0``; its
    in/out ``.npz`` files are written to ``work``). Asserts that MegEngine ran."""
    np.savez(work / "lite_in.npz", **inputs)
    done = subprocess.run([oracle_python(), str(LITE_DRIVER), str(mge_path),
                           str(work / "lite_in.npz"), str(work / "lite_out.npz")],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0"})
    assert done.returncode == 0, f"MegEngine Lite on {Path(mge_path).name}:\n{done.stderr[-4000:]}"
    with np.load(work / "lite_out.npz") as z:
        return [z[f"arr_{k}"] for k in range(len(z.files))]


def describe_in_megengine(
    mge_path: str | os.PathLike[str], *, timeout: float = 300
) -> dict[str, Any]:
    """How MegEngine's ``load_graph`` sees a file: inputs, outputs, oprs (type, params), metadata.

    The dict is ``run_mge_file.py``'s JSON summary (see that script); nothing is executed.
    """
    return _run_tool(mge_path, None, "none", timeout)[0]


def golden_cases(path: Path) -> list[dict]:
    """The cases of a golden ``.npz`` the oracle wrote: the JSON list in ``__meta__``
    (each case has an ``id``; its arrays are stored as ``<id>__<name>``)."""
    with np.load(path) as z:
        return json.loads(str(z["__meta__"]))


def golden_arrays(path: Path, case_id: str) -> dict[str, np.ndarray]:
    """The arrays of one case of a golden ``.npz``, by name (``<id>__<name>``)."""
    prefix = f"{case_id}__"
    with np.load(path) as z:
        return {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}
