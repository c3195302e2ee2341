"""Write ``tests/fixtures/quantization/linear_int8.npz``: real MegEngine 1.13's quantized
``F.linear`` (``QuantizedS8`` input and weight, ``QuantizedS32`` bias): the ``qint32``
product, the ``qint8`` requantized result and its ReLU, as integers, with the float data
and scales that made them. ``tests/quantization/test_quantized_linear.py`` checks that
mge's quantized ``Linear`` gives them bit for bit. Run with the oracle:
``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_quantized_linear.py``.
"""

from pathlib import Path

import megengine as mge
import megengine.functional as F
import numpy as np
from megengine.core.tensor import dtype as D

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "quantization"


def main() -> None:
    rng = np.random.RandomState(1)
    sx, sw, so = 0.0213, 0.0071, 0.0537
    x = (rng.randn(16, 64) * 2).astype("float32")
    w = (rng.randn(32, 64) * 0.5).astype("float32")
    b = (rng.randn(32) * 0.2).astype("float32")
    xq, wq = mge.tensor(x).astype(D.qint8(sx)), mge.tensor(w).astype(D.qint8(sw))
    y = F.linear(xq, wq, mge.tensor(b).astype(D.qint32(sx * sw)))
    o = y.astype(D.qint8(so))
    np.savez(OUT / "linear_int8.npz", x=x, w=w, b=b, scales=np.array([sx, sw, so]),
             y=np.asarray(y.numpy()).astype("int32"), o=np.asarray(o.numpy()).astype("int8"),
             relu=np.asarray(F.relu(o).numpy()).astype("int8"))


if __name__ == "__main__":
    main()
