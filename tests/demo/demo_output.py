"""Reading ``python -m mge.demo``'s output, and onnxruntime's answer to compare it with."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mge.assets import CAT_PHOTO, MOBILENET_V1
from mge.demo import preprocess

_ROW = re.compile(r"^\s+(\d+)\s{2}.*\s(\d+\.\d\d)%")


def top5(out: str) -> list[int]:
    """The class indices of the demo's top-5 table, in its order."""
    table = out.split("\ntop-5 for ", 1)[1].splitlines()[1:6]
    rows = [_ROW.match(line) for line in table]
    assert all(rows), table
    return [int(row.group(1)) for row in rows if row]


def onnxruntime_logits() -> np.ndarray:
    """onnxruntime's logits for the bundled model on the bundled photo (reference recipe)."""
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    session = ort.InferenceSession(str(MOBILENET_V1), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(["logits"], {name: preprocess(CAT_PHOTO, 128)})[0].reshape(-1)
