"""ONNX's own backend test cases through mge's ONNX backend: outcomes, the list of expected
failures, and a report.

Every case ends in one outcome:

- ``pass``: the outputs match ONNX's reference (values, shapes and dtypes);
- ``wrong``: outputs were returned and differ (never acceptable, never listed);
- ``imprecise``: float16 outputs beyond the case's tolerance but within 2 float16 ulps of
  the reference everywhere (rounding order of float16 arithmetic; listed, and reported);
- ``unsupported``: the import refused the model with :class:`OnnxError`, naming the node;
- ``refused``: mge refused at run time with a ``ValueError``/``TypeError`` naming the op;
- ``error``: any other exception.

``backend_expected_failures.txt`` holds, per case that does not pass in some mode, its
outcome in each mode (``eager``: ``from_onnx``; ``lite``: ``.mge`` + mge.lite). The list may
only shrink: the test fails when a listed case passes or fails differently.

Run as a script for the report (onnxruntime through the same cases, mge in both modes, as
the cases are written and with every operand after the first frozen into a constant, as
exported CNNs have them); ``--write`` rewrites the list from the current outcomes:

    PYTHONPATH=$PWD python -m tests.convert.onnx.backend_cases [--write]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from mge.convert import OnnxError
from mge.convert.onnx.backend import MgeBackend, MgeLiteBackend

EXPECTED_FILE = Path(__file__).with_name("backend_expected_failures.txt")
MODES = {"eager": MgeBackend, "lite": MgeLiteBackend}
FAILURES = ("imprecise", "unsupported", "refused", "error")


class Imprecise(AssertionError):
    """float16 outputs off by at most 2 ulps of the reference."""


def _within_two_ulps(output: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> bool:
    if output.shape != ref.shape or output.dtype != ref.dtype:
        return False
    if output.dtype != np.float16:
        return bool(np.allclose(output, ref, rtol=rtol, atol=atol, equal_nan=True))
    error = np.abs(output.astype(np.float64) - ref.astype(np.float64))
    return bool(np.all(error <= 2 * np.spacing(np.abs(ref)).astype(np.float64) + atol))


def compare(refs: list[np.ndarray], outputs: list[np.ndarray], rtol: float,
            atol: float) -> None:
    """ONNX's comparison; a float16 mismatch within 2 ulps raises :class:`Imprecise`."""
    try:
        Runner.assert_similar_outputs(refs, outputs, rtol, atol)
    except AssertionError as exc:
        if len(refs) == len(outputs) and any(o.dtype == np.float16 for o in outputs) and \
                all(_within_two_ulps(o, r, rtol, atol) for o, r in zip(outputs, refs)):
            raise Imprecise(str(exc)) from None
        raise


def softmax_input_agrees(case: str, backend: Any) -> bool:
    """Whether ``backend`` computes the input of light real model ``case``'s final Softmax
    as onnxruntime does (relative 1e-5 of its largest value), on the runner's input.

    ONNX's light models hold constant weights (0.02 everywhere), so every class gets the
    same logit, about 1e10 for squeezenet: one float32 ulp there is 1024, and a kernel that
    sums one channel in another order than the next (torch's one-thread convolution) turns
    a uniform softmax into a one-hot one. Such a mismatch is rounding, not a wrong result,
    when the softmax input agrees.
    """
    path = Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{case[5:]}.onnx"
    feed = Path(os.environ["ONNX_HOME"]) / "models/light" / case[5:] / "test_data_set_0"
    if not path.exists() or not (feed / "input_0.pb").exists():
        return False
    model = onnx.load(str(path))
    last = model.graph.node[-1]
    if last.op_type != "Softmax" or len(model.graph.output) != 1:
        return False
    model.graph.output[0].name = last.input[0]
    model.graph.node.pop()
    x = numpy_helper.to_array(onnx.load_tensor(str(feed / "input_0.pb")))
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString())
    (ref,) = session.run(None, {session.get_inputs()[0].name: x})
    (out,) = backend.prepare(model, "CPU").run([x])
    out = np.asarray(out)
    return out.shape == ref.shape and bool(
        np.max(np.abs(out - ref)) <= 1e-5 * np.max(np.abs(ref)))


def classify(exc: BaseException) -> str:
    """The outcome of a case that raised ``exc``."""
    if isinstance(exc, Imprecise):
        return "imprecise"
    if isinstance(exc, AssertionError):
        return "wrong"
    if isinstance(exc, OnnxError):
        return "unsupported"
    if isinstance(exc, (ValueError, TypeError)):
        return "refused"
    return "error"


def read_expected(path: Path = EXPECTED_FILE) -> dict[str, dict[str, str]]:
    """``{case: {mode: outcome}}`` from the list (modes not named there pass)."""
    expected: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        case, *outcomes = line.split()
        if len(outcomes) != len(MODES) or not set(outcomes) <= {"pass", *FAILURES}:
            raise ValueError(f"{path.name}: bad line {line!r} (case, then one of pass/"
                             f"{'/'.join(FAILURES)} per mode {list(MODES)})")
        expected[case] = dict(zip(MODES, outcomes))
    return expected


def expected_onnx_version(path: Path = EXPECTED_FILE) -> str:
    """The onnx version the list was made with (its first line names it)."""
    match = re.search(r"\(onnx ([^)]+)\)", path.read_text().splitlines()[0])
    return match.group(1) if match else ""


def write_expected(outcomes: dict[str, dict[str, str]], path: Path = EXPECTED_FILE) -> None:
    lines = [
        f"# ONNX backend test cases that mge does not pass (onnx {onnx.__version__}).",
        "# case, then the outcome per mode: " + " ".join(MODES) + ".",
        "# This list may only shrink: a listed case that passes fails the suite (delete",
        "# its line), and a wrong result is never listed. See backend_cases.py.",
    ]
    for case in sorted(outcomes):
        per_mode = outcomes[case]
        if any(per_mode[m] != "pass" for m in MODES):
            lines.append(" ".join([case, *(per_mode[m] for m in MODES)]))
    path.write_text("\n".join(lines) + "\n")


def frozen(model: Any, inputs: list[Any]) -> tuple[Any, list[Any]]:
    """``model`` with every run-time input after the first turned into an initializer."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    initialized = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initialized]
    keep, feeds = set(), []
    for k, (name, value) in enumerate(zip(names, inputs)):
        if k == 0 or not isinstance(value, (np.ndarray, np.generic)):
            keep.add(name)
            feeds.append(value)
        else:
            model.graph.initializer.append(numpy_helper.from_array(value, name))
    if model.ir_version >= 4:  # older IR versions list initializers among the inputs
        entries = [i for i in model.graph.input if i.name in keep or i.name in initialized]
        del model.graph.input[:]
        model.graph.input.extend(entries)
    return model, feeds


def run_case(case: Any, backend: Any, freeze: bool = False) -> tuple[str, str]:
    """``(outcome, detail)`` of one loaded test case on ``backend``."""
    try:
        for inputs, refs in case.data_sets:
            inputs = [numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x
                      for x in inputs]
            model = case.model
            if freeze:
                model, inputs = frozen(model, inputs)
            with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outputs = backend.prepare(model, "CPU").run(inputs)
            refs = [numpy_helper.to_array(r) if isinstance(r, onnx.TensorProto) else r
                    for r in refs]
            compare(refs, list(outputs), case.rtol, case.atol)
    except Exception as exc:  # noqa: BLE001 - every failure is classified
        return classify(exc), f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return "pass", ""


def _report(write: bool) -> None:
    import onnxruntime.backend

    cases = load_model_tests(kind="node")
    runners = {"onnxruntime": onnxruntime.backend, **MODES}
    results: dict[tuple[str, bool], dict[str, str]] = {}
    for freeze in (False, True):
        for name, backend in runners.items():
            results[name, freeze] = table = {}
            for case in cases:
                outcome, detail = run_case(case, backend, freeze)
                if name == "onnxruntime" and outcome != "pass":
                    outcome = "fails"  # its own failures are not classified
                table[case.name] = outcome
                if outcome == "wrong":
                    print(f"WRONG {name} frozen={freeze} {case.name}: {detail}")
    print(f"{len(cases)} node cases (onnx {onnx.__version__})")
    for (name, freeze), table in results.items():
        line = f"{name:12s} {'frozen' if freeze else 'as written':10s} " \
               f"{dict(collections.Counter(table.values()))}"
        if name != "onnxruntime":
            ort = {c for c, o in results["onnxruntime", freeze].items() if o == "pass"}
            ours = sum(table[c] == "pass" for c in ort)
            line += f"; passes {ours} of onnxruntime's {len(ort)} ({100 * ours / len(ort):.1f} %)"
        print(line)
    if write:
        write_expected({case.name: {m: results[m, False][case.name] for m in MODES}
                        for case in cases})
        print(f"wrote {EXPECTED_FILE}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the expected list")
    _report(parser.parse_args().write)
