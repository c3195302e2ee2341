"""Quantized ``Linear`` computes as MegEngine 1.13: an integer ``MatrixMul`` (``qint32``),
the ``qint32`` bias added, one ``TypeCvt`` to the output dtype; bit for bit against
MegEngine (``tools/oracle/make_quantized_linear.py``), and dumped under MegEngine's names."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge import Parameter
from mge.dtype import qint8, qint32
from mge.jit import trace
from mge.quantization.quantize import quantize, quantize_qat
from mge.serialization.fbs import read_model
from mge.utils.comp_graph_tools import GraphInference
from tests.oracle import requires_oracle, run_in_megengine

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "quantization" / "linear_int8.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN))


def _ints(t: mge.Tensor) -> np.ndarray:
    return np.asarray(t.numpy()).view(np.dtype(t.numpy().dtype.str))


def test_functional_linear_on_qint8_is_megengines(golden: dict[str, np.ndarray]) -> None:
    sx, sw, so = golden["scales"]
    xq = mge.tensor(golden["x"]).astype(qint8(sx))
    wq = mge.tensor(golden["w"]).astype(qint8(sw))
    y = F.linear(xq, wq, mge.tensor(golden["b"]).astype(qint32(sx * sw)))
    assert y.dtype.metadata["mgb_dtype"]["name"] == "QuantizedS32"
    np.testing.assert_array_equal(_ints(y), golden["y"])
    np.testing.assert_array_equal(_ints(y.astype(qint8(so))), golden["o"])


@pytest.mark.parametrize(("cls", "key"), [(M.quantized.Linear, "o"),
                                          (M.quantized.LinearRelu, "relu")])
def test_quantized_module_is_megengines(golden: dict[str, np.ndarray], cls: type,
                                        key: str) -> None:
    sx, sw, so = golden["scales"]
    module = cls(dtype=qint8(so))
    module.weight = Parameter(mge.tensor(golden["w"]).astype(qint8(sw)).numpy())
    module.bias = Parameter(golden["b"])
    module.eval()
    out = module(mge.tensor(golden["x"]).astype(qint8(sx)))
    np.testing.assert_array_equal(_ints(out), golden[key])


class _Simple(M.Module):
    def __init__(self) -> None:
        super().__init__(name="simple")
        self.quant = M.QuantStub()
        self.linear = M.Linear(3, 3, bias=True)
        self.dequant = M.DequantStub()

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return self.dequant(self.linear(self.quant(x)))


def _ptq_dump() -> tuple[bytes, np.ndarray, np.ndarray]:
    mge.random.seed(0)
    m = _Simple()
    quantize_qat(m)
    quantize(m)
    m.eval()
    f = trace(m, symbolic=True, capture_as_const=True)
    x = np.random.default_rng(0).random((2, 3)).astype("float32")
    expect = f(mge.tensor(x)).numpy()
    buf = io.BytesIO()
    f.dump(buf, arg_names=["x"], optimize_for_inference=False, keep_opr_name=True,
           keep_var_name=2)
    return buf.getvalue(), x, expect


def test_ptq_linear_dumps_under_megengines_names() -> None:
    data, x, expect = _ptq_dump()
    ops = [(op.type, op.name) for op in read_model(data, "m").operators
           if op.type != "ImmutableTensor"]
    assert ops == [("Host2DeviceCopy", "x"), ("TypeCvtV2", "simple.quant.TypeCvt"),
                   ("MatrixMulV2", "simple.linear.MatrixMul"), ("Elemwise", "simple.linear.ADD"),
                   ("TypeCvtV2", "simple.linear.TypeCvt"), ("TypeCvtV2", "simple.dequant.TypeCvt")]
    (got,) = GraphInference(io.BytesIO(data)).run(x).values()
    np.testing.assert_array_equal(got, expect)


@requires_oracle
def test_megengine_runs_the_ptq_linear_dump_as_mge(tmp_path: Path) -> None:
    data, x, expect = _ptq_dump()
    path = tmp_path / "qlinear.mge"
    path.write_bytes(data)
    (got,) = run_in_megengine(path, {"x": x}, runner="graph").values()
    np.testing.assert_array_equal(got, expect)
