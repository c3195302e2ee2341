"""ONNX's own backend tests (``onnx.backend.test.BackendTest``) on mge's ONNX backend, eager
and as ``.mge`` + mge.lite, against the expected-failure list (see ``backend_cases.py``).

A wrong result always fails. A case passes when its outcome is the listed one (``pass``
when not listed); one that passes although listed, or fails differently, fails (so the
list can only shrink). The
light real models (ONNX's model zoo CNNs, with references made by ONNX's reference
evaluator) are ``slow``.
"""

from __future__ import annotations

import functools
import os
import tempfile
import unittest
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402
from onnx.backend.test import BackendTest  # noqa: E402

from .backend_cases import (  # noqa: E402
    EXPECTED_FILE,
    MODES,
    classify,
    compare,
    expected_onnx_version,
    read_expected,
    softmax_input_agrees,
)

EXPECTED = read_expected()
#: the list holds the cases of the onnx release it was made with; under another release a
#: case it does not describe (new, or changed) is skipped unless it returns a wrong result
LISTED_ONNX = expected_onnx_version()
CATEGORIES = {"OnnxBackendNodeModelTest": "Node", "OnnxBackendRealModelTest": "Real"}


def _judged(method: Callable, case: str, mode: str, real: bool) -> Callable:
    """``method`` (one BackendTest case) held against the expected-failure list."""

    @functools.wraps(method)
    def test(self: unittest.TestCase) -> None:
        expected = EXPECTED.get(case, {}).get(mode, "pass")
        try:
            method(self)
        except unittest.SkipTest:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified
            outcome, detail = classify(exc), f"{type(exc).__name__}: {exc}"
        else:
            outcome, detail = "pass", ""
        if outcome == "wrong" and real and softmax_input_agrees(case, MODES[mode]):
            outcome = "pass"  # float32 rounding of ~1e10 logits, amplified by the softmax
        if outcome == "wrong":
            pytest.fail(f"{case} ({mode}) returned a wrong result: {detail}")
        if outcome == expected:
            return  # passes, or fails exactly as listed
        if onnx.__version__ != LISTED_ONNX:
            pytest.skip(f"{case} ({mode}) is {outcome}, listed as {expected} under onnx "
                        f"{LISTED_ONNX}; onnx {onnx.__version__} is installed: regenerate "
                        "the list (python -m tests.convert.onnx.backend_cases --write)")
        if expected == "pass":
            pytest.fail(f"{case} ({mode}) is {outcome}, not listed in {EXPECTED_FILE.name}: "
                        f"{detail}")
        pytest.fail(f"{case} ({mode}) is listed as {expected} in {EXPECTED_FILE.name} but is "
                    f"{outcome} now: update its line (the list may only shrink). {detail}")

    return test


class _BackendTest(BackendTest):
    """ONNX's runner with the comparison that tells float16 rounding from wrong results."""

    @classmethod
    def assert_similar_outputs(cls, ref_outputs: Any, outputs: Any, rtol: float, atol: float,
                               model_dir: str | None = None) -> None:
        compare(list(ref_outputs), list(outputs), rtol, atol)


def _test_classes(mode: str, backend: Any) -> dict[str, type]:
    """BackendTest's node and real-model classes for ``backend``, named per mode."""
    tests = _BackendTest(backend, __name__)
    classes = {}
    for name, cls in tests.test_cases.items():
        if name not in CATEGORIES:
            continue
        for attr in [a for a in vars(cls) if a.startswith("test_")]:
            if not attr.endswith("_cpu"):  # mge's ONNX backend runs on the CPU
                delattr(cls, attr)
                continue
            method = _judged(getattr(cls, attr), attr.removesuffix("_cpu"), mode,
                             CATEGORIES[name] == "Real")
            if CATEGORIES[name] == "Real":
                method = pytest.mark.slow(method)
            setattr(cls, attr, method)
        cls.__name__ = cls.__qualname__ = f"Test{mode.title()}{CATEGORIES[name]}"
        classes[cls.__name__] = cls
    return classes


# the light real models' references are made once into $ONNX_HOME: not the user's home
os.environ.setdefault("ONNX_HOME", os.path.join(tempfile.gettempdir(), "mge-onnx-home"))
for _mode, _backend in MODES.items():
    globals().update(_test_classes(_mode, _backend))
