"""``load_and_run --input``: ``"name:value;name2:value2"`` as MegEngine's tool reads it.

A value is a ``.npy`` file, an image file (read like ``cv2.imread``, laid out NCHW or
NHWC for the input's shape, no resizing) or a literal nested list such as
``[[1,2],[3,4]]`` (int32 unless a number has a decimal point, then float32, as in
MegEngine). Without ``name:`` the value feeds the model's only input (or ``data``).
Values are cast to the input's dtype; their shapes must be the input's.

Example:
    >>> parse_inputs("x:[[1,2],[3,4]]", {"x": ((2, 2), np.dtype("float32"))})["x"]
    array([[1., 2.],
           [3., 4.]], dtype=float32)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..jit.input_data import read_file
from .cli import ToolError


def literal(text: str, what: str) -> np.ndarray:
    """A nested-list literal as an int32 (or, with a ``.`` anywhere, float32) array."""
    try:
        value = json.loads(text)
        arr = np.array(value, dtype=np.float32 if "." in text else np.int32)
    except (ValueError, TypeError):
        raise ToolError(f"{what}: bad literal {text!r}: expected nested lists of numbers "
                        "with the same length at each level") from None
    return arr


def parse_inputs(text: str, inputs: Mapping[str, tuple[Sequence[int], Any]]
                 ) -> dict[str, np.ndarray]:
    """Arrays for ``--input text``; ``inputs`` maps each model input to (shape, dtype)."""
    result: dict[str, np.ndarray] = {}
    for item in (p.strip() for p in text.split(";")):
        if not item:
            continue
        name, sep, value = item.partition(":")
        if not sep or item.startswith("["):
            value = item
            name = next(iter(inputs)) if len(inputs) == 1 else "data"
        if name not in inputs:
            raise ToolError(f"--input names unknown input {name!r} "
                            f"(model inputs: {', '.join(inputs)})")
        if name in result:
            raise ToolError(f"--input gives input {name!r} twice")
        shape, dtype = inputs[name]
        what = f"--input {name!r}"
        arr = literal(value, what) if value.startswith("[") else read_file(
            value, shape, False, what)
        result[name] = fit(arr, shape, dtype, what)
    return result


def fit(value: np.ndarray, shape: Sequence[int], dtype: Any, what: str) -> np.ndarray:
    """``value`` cast to ``dtype``; ``ToolError`` unless its shape is ``shape``."""
    if tuple(value.shape) != tuple(shape):
        raise ToolError(f"{what}: shape {tuple(value.shape)} does not fit the model's "
                        f"{tuple(shape)}")
    return np.asarray(value).astype(np.dtype(dtype), copy=False)


__all__ = ["fit", "literal", "parse_inputs"]
