"""Write ``tests/fixtures/interop/whole_reduce.mge``: real MegEngine 1.13's dump of
whole-tensor reductions (``F.mean(x)``, ``F.sum(x * 2)``), and its outputs for
``x = arange(6).reshape(2, 3)`` in ``whole_reduce.npz``.

MegEngine writes such a reduction as ``ReduceV2`` without an axis and a second input,
the target shape ``[1]``. Run with the oracle:
``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_whole_reduce.py``.
"""

from pathlib import Path

import megengine as mge
import megengine.functional as F
import numpy as np
from megengine.jit import trace

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "interop"


@trace(symbolic=True, capture_as_const=True)
def whole(x):
    return F.mean(x), F.sum(x * 2)


def main() -> None:
    x = np.arange(6, dtype="float32").reshape(2, 3)
    mean, total = whole(mge.tensor(x))
    whole.dump(str(OUT / "whole_reduce.mge"), arg_names=["x"], output_names=["mean", "sum"])
    np.savez(OUT / "whole_reduce.npz", x=x, mean=mean.numpy(), sum=total.numpy())


if __name__ == "__main__":
    main()
