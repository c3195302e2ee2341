"""Golden file for symbolic shapes: a ShuffleNetV2-style net dumped by real MegEngine 1.13
at 224x224, with MegEngine's eager outputs at other input sizes.

Run with the oracle interpreter (never imported by ``mge``)::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_any_size_golden.py \\
        --out tests/fixtures/interop

writes ``shufflenet_any_size.mge`` (``jit.trace(symbolic=True)`` + ``dump`` at 224x224:
its channel shuffles and flatten read ``x.shape`` through ``GetVarShape``) and
``shufflenet_any_size.npz`` with ``eager/<h>x<w>``, MegEngine's eager outputs of the same
net for 224x224, 160x160 and 240x320 inputs made by :func:`image` (a formula, so the
inputs need not be stored: the tests compute them the same way).
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import megengine as mge  # noqa: E402
import megengine.functional as F  # noqa: E402
from make_golden import SEED, ShuffleNetV2, seeded_state  # noqa: E402
from megengine.jit import trace  # noqa: E402

SIZES = ((224, 224), (160, 160), (240, 320))


def image(h: int, w: int) -> np.ndarray:
    """The ``(1, 3, h, w)`` float32 test input for size ``h`` x ``w``."""
    return np.sin(np.arange(3 * h * w, dtype=np.float64) * 0.37).reshape(1, 3, h, w).astype(
        "float32")


class AnySizeShuffleNet(ShuffleNetV2):
    """The fixtures' ShuffleNetV2 with global average pooling (any input size)."""

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.maxpool(self.first_conv(x))
        x = self.conv_last(self.features(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(F.flatten(x, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    net = AnySizeShuffleNet()
    seeded_state(net, SEED + 15)
    net.eval()
    arrays = {f"eager/{h}x{w}": net(mge.tensor(image(h, w))).numpy() for h, w in SIZES}

    @trace(symbolic=True, capture_as_const=True)
    def fun(data):  # noqa: ANN001, ANN202
        return net(data)

    fun(mge.tensor(image(224, 224)))
    buf = io.BytesIO()
    fun.dump(buf, arg_names=["data"], output_names=["logits"])
    with open(os.path.join(out, "shufflenet_any_size.mge"), "wb") as f:
        f.write(buf.getvalue())
    np.savez(os.path.join(out, "shufflenet_any_size.npz"), **arrays)


if __name__ == "__main__":
    main()
