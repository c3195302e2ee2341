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

from ..jit.input_data import cast_data, read_file
from .cli import ToolError

#: deepest bracket nesting a literal may have (MegEngine tensors have at most 7 dims)
MAX_LITERAL_DEPTH = 7


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "]":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def literal(text: str, what: str) -> np.ndarray:
    """A nested-list literal as an int32 (or, with a ``.`` anywhere, float32) array.

    Raises:
        ToolError: the text is not nested lists of numbers of at most 7 levels, the
            lists are ragged, or a number does not fit int32/float32.
    """
    bad = f"{what}: bad literal {text[:40] + ('...' if len(text) > 40 else '')!r}"
    if _nesting(text) > MAX_LITERAL_DEPTH:
        raise ToolError(f"{bad}: nested deeper than {MAX_LITERAL_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
        raw = np.array(value)
    except (ValueError, TypeError, RecursionError):
        raise ToolError(f"{bad}: expected nested lists of numbers with the same length at "
                        "each level") from None
    dtype = np.dtype(np.float32 if "." in text else np.int32)
    if not isinstance(value, list) or raw.dtype.kind not in "iufO":
        raise ToolError(f"{bad}: expected nested lists of numbers")
    limits = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    span = f"{dtype} (range {limits.min:g} to {limits.max:g})" if dtype.kind == "f" else \
        f"{dtype} (range {limits.min} to {limits.max})"
    if raw.dtype.kind == "O":  # integers beyond int64
        raise ToolError(f"{bad}: a number does not fit {span}")
    wide = raw.astype(np.float64)
    outside = ~np.isfinite(wide) | (wide > limits.max) | (wide < limits.min)
    if outside.any():
        raise ToolError(f"{bad}: {raw[outside].reshape(-1)[0]} does not fit {span}")
    return raw.astype(dtype)


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
    return cast_data(np.asarray(value), dtype, what)


__all__ = ["fit", "literal", "parse_inputs"]
