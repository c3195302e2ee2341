"""Shape inputs (``Reshape``'s target, ``Resize``'s size...) read like MegEngine reads
them: integer vectors, or float vectors of whole numbers up to 2**24 (real MegEngine's
traced ``interpolate(scale_factor=...)`` sizes ``Resize`` by a float32
``floor(shape * scale)``); any other float is refused, as MegEngine refuses it."""

from __future__ import annotations

import numpy as np
import pytest

from mge.core.opdef import OpError, TensorInfo
from mge.ops import shape as S
from mge.ops.vision import ResizeForward


@pytest.mark.parametrize("dtype", ["int32", "float32", "float16"])
def test_whole_number_shape_inputs_are_read(dtype: str) -> None:
    assert S.shape_from_source(S.Reshape(), np.array([4, -1, 6], dtype)) == (4, -1, 6)
    op = ResizeForward(format="NCHW").with_sources([np.array([3, 5], dtype)])
    assert op.dsize == (3, 5)


@pytest.mark.parametrize("value", [[2.5, 3.0], [np.nan, 2.0], [np.inf, 2.0], [2.0**25, 1]])
def test_other_float_shape_inputs_are_refused(value: list[float]) -> None:
    with pytest.raises(OpError, match="without precision loss"):
        ResizeForward(format="NCHW").with_sources([np.array(value, np.float32)])


def test_a_shape_input_of_another_kind_is_refused() -> None:
    src = TensorInfo((1, 2, 4, 4), np.dtype("float32"))
    size = TensorInfo((2,), np.dtype("bool"))
    with pytest.raises(OpError, match="1-d integer or float vector"):
        ResizeForward(format="NCHW").infer([src, size])
