"""The ``.mge`` encoding of quantized dtypes (FBS_V2 ``QuantizedS8``, ``Quantized8Asymm``,
``QuantizedS32`` with their params), both ways, on MegEngine's own int8 dump."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.core.tensor import dtype
from mge.serialization.fbs import DType, read_model, write_model
from mge.serialization.mge_oprs import numpy_dtype

INT8_DUMP = Path(__file__).parents[1] / "fixtures" / "quantization" / "qnet_int8.mge"


@pytest.mark.parametrize("qdt", [dtype.qint8(0.1), dtype.quint8(0.25, 7), dtype.qint32(1e-3)])
def test_quantized_dtypes_map_to_file_dtypes_and_back(qdt: np.dtype) -> None:
    file_dtype = DType.from_numpy(qdt)
    assert file_dtype.name == qdt.metadata["mgb_dtype"]["name"]
    assert file_dtype.scale == float(np.float32(dtype.get_scale(qdt)))
    assert dtype.is_dtype_equal(numpy_dtype(file_dtype), qdt)


def test_megengine_int8_dump_decodes_to_quantized_dtypes() -> None:
    model = read_model(INT8_DUMP.read_bytes(), INT8_DUMP.name)
    weights = [t for op in model.operators if op.type == "ImmutableTensor" for t in op.tensors
               if t.dtype.is_quantized]
    names = {t.dtype.name for t in weights}
    assert names == {"QuantizedS8", "QuantizedS32"}
    for t in weights:
        value = t.data.astype(numpy_dtype(t.dtype)).view(numpy_dtype(t.dtype))
        assert dtype.is_quantize(value.dtype) and dtype.get_scale(value.dtype) == t.dtype.scale
    # written back, every quantized tensor keeps its dtype and scale
    back = read_model(write_model(model), "rewritten")
    assert [t.dtype for op in back.operators for t in op.tensors] == [
        t.dtype for op in model.operators for t in op.tensors]

