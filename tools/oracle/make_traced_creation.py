"""Golden files for creation with traced sizes: ``F.linspace``/``F.arange``/``F.eye`` of
``x.shape`` values dumped by real MegEngine 1.13 at a 2x3 input, with MegEngine's eager
outputs at 2x3 and 4x5 (the files take their sizes as input vars: ``Linspace``'s start,
stop and num, ``Eye``'s shape).

Run with the oracle interpreter (never imported by ``mge``)::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_traced_creation.py \\
        --out tests/fixtures/interop

writes ``traced_<name>.mge`` per case and ``traced_creation.npz`` (``<name>/<h>x<w>``:
the eager output for input :func:`data` of that size).
"""

from __future__ import annotations

import argparse
import io
import os

import megengine as mge
import megengine.functional as F
import numpy as np
from megengine.jit import trace

SIZES = ((2, 3), (4, 5))

#: shared with tests/jit/test_traced_creation.py (same names, same formulas)
CASES = {
    "linspace": lambda x: x + F.linspace(0, 1, x.shape[1]),
    "arange": lambda x: x + F.arange(2, x.shape[1] + 2),
    "arange_step": lambda x: x + F.arange(0, x.shape[1] * 2, 2),
    "eye": lambda x: F.matmul(x, F.eye(x.shape[1])),
    "eye_nm": lambda x: F.matmul(F.eye(x.shape[1], x.shape[0]), x),
}


def data(h: int, w: int) -> np.ndarray:
    """The float32 test input of shape ``(h, w)`` (a formula: tests compute it too)."""
    return np.cos(np.arange(h * w, dtype=np.float64) * 0.7).reshape(h, w).astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    arrays = {}
    for name, fn in CASES.items():
        for h, w in SIZES:
            arrays[f"{name}/{h}x{w}"] = fn(mge.tensor(data(h, w))).numpy()
        traced = trace(fn, symbolic=True, capture_as_const=True)
        traced(mge.tensor(data(*SIZES[0])))
        buf = io.BytesIO()
        traced.dump(buf, arg_names=["x"], output_names=["y"])
        with open(os.path.join(out, f"traced_{name}.mge"), "wb") as f:
            f.write(buf.getvalue())
    np.savez(os.path.join(out, "traced_creation.npz"), **arrays)


if __name__ == "__main__":
    main()
