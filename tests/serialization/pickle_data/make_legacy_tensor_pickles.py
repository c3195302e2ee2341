"""Write ``megengine_v1_{1,2}.pkl`` here: pickles laid out as MegEngine 1.1 and 1.2
wrote tensors, for ``mge.load``'s compatibility tests.

The 1.13 oracle writes only its own layout, so these are built by hand after the layout
of MegEngine's own test files (``unit/core/tensor_v1_1.mge``, ``tensor_v1_2.mge``):

* 1.1: ``NEWOBJ megengine.tensor.Tensor()`` with no arguments, then ``BUILD`` with the state
  ``{"data": ndarray, "device": "cpu0:0", "dtype": numpy.<type>, "qdict": {...}}``;
* 1.2: ``NEWOBJ megengine.tensor.Tensor(ndarray, numpy.<type>, "cpu0:0")``, then ``BUILD``
  with ``{"qdict": {"mode": None, "scale": None, "zero_point": None}}``.

Each file holds a state dict ``{"w": Parameter float32 (2, 2), "b": Tensor int8 [1, 2, 3]}``
and the same ``w`` object again under ``"w_again"`` (pickle memo). Run with the oracle's
Python, whose numpy 1 names arrays ``numpy.core.multiarray`` as MegEngine 1.1 and 1.2 did
(megengine itself is not imported):
``.oracle/bin/python tests/serialization/pickle_data/make_legacy_tensor_pickles.py``.
"""

from __future__ import annotations

import copyreg
import pickle
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent
QDICT = {"mode": None, "scale": None, "zero_point": None}


def _fake_megengine(version: str) -> None:
    """Register a ``megengine.tensor`` module whose classes pickle as ``version`` did."""

    class Tensor:
        def __init__(self, data: np.ndarray, device: str = "cpu0:0") -> None:
            self.data, self.device = data, device

        def __reduce_ex__(self, protocol: int):
            dtype = self.data.dtype.type
            if version == "1.1":
                state = {"data": self.data, "device": self.device, "dtype": dtype,
                         "qdict": dict(QDICT)}
                return copyreg.__newobj__, (type(self),), state
            return (copyreg.__newobj__, (type(self), self.data, dtype, self.device),
                    {"qdict": dict(QDICT)})

    class Parameter(Tensor):
        pass

    module = types.ModuleType("megengine.tensor")
    for cls in (Tensor, Parameter):
        cls.__module__ = "megengine.tensor"
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    sys.modules["megengine"] = types.ModuleType("megengine")
    sys.modules["megengine.tensor"] = module


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for version in ("1.1", "1.2"):
        _fake_megengine(version)
        mod = sys.modules["megengine.tensor"]
        w = mod.Parameter(np.arange(4, dtype=np.float32).reshape(2, 2))
        b = mod.Tensor(np.array([1, 2, 3], dtype=np.int8))
        data = pickle.dumps({"w": w, "b": b, "w_again": w}, protocol=4)
        (OUT / f"megengine_v{version.replace('.', '_')}.pkl").write_bytes(data)


if __name__ == "__main__":
    main()
