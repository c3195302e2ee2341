"""Run by the oracle interpreter (real MegEngine 1.13), never imported by mge or pytest.

Dumps the oracle's reduced ResNet-18 (width 8), ShuffleNetV2 and MobileNetV2 with each
blocked-layout option and records what MegEngine computes for one input:

    python -m tests.serialization.megengine_layout_dumps OUT_DIR   (from the repository)

writes ``<model>_<option>.mge`` and ``expected.npz`` (``<model>/input`` and
``<model>/output``: MegEngine's eager output, the reference for every layout).
"""

from __future__ import annotations

import sys
from pathlib import Path

import megengine as mge
import numpy as np
from megengine.jit import trace

from tools.oracle import make_golden as golden

LAYOUTS = ("enable_nchw44", "enable_nchw44_dot", "enable_nchw88")
MODELS = {
    "resnet18": lambda: golden.ResNet18(width=8),
    "shufflenet_v2": golden.ShuffleNetV2,
    "mobilenet_v2": golden.MobileNetV2,
}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    arrays = {}
    for name, make in MODELS.items():
        net = make()
        golden.seeded_state(net, 0)

        @trace(symbolic=True, capture_as_const=True)
        def fun(data, *, net):  # noqa: ANN001, ANN202
            return net(data)

        x = np.random.RandomState(1).rand(1, 3, 32, 32).astype("float32")
        arrays[f"{name}/input"] = x
        arrays[f"{name}/output"] = fun(mge.tensor(x), net=net).numpy()
        for option in LAYOUTS:
            fun.dump(str(out / f"{name}_{option}.mge"), arg_names=["data"], **{option: True})
    np.savez(out / "expected.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
