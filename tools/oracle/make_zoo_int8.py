"""Int8 ``.mge`` dumps of the MegEngine/Models quantization zoo with real MegEngine 1.13.

Run with the oracle interpreter, given a checkout of github.com/MegEngine/Models (its
``official/quantization/models``: ResNet-18, MobileNetV2, ShuffleNetV1 0.5x g3)::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_zoo_int8.py \\
        --models-repo ../Models --out /tmp/zoo

Each net (its seeded random initial weights, eval mode) goes through
``quantize_qat(calibration_qconfig)``, two calibration batches, ``quantize`` and
``trace.dump(optimize_for_inference=True)``, as the zoo's ``inference.py --dump``;
writes ``int8_<net>.mge`` and ``int8_<net>.npz`` (``input``; ``lite/0``: what
``megenginelite`` computes).
"""

from __future__ import annotations

import argparse
import os
import sys

import megengine as mge
import numpy as np
from make_int8 import ptq_dump  # this folder's script (the same PTQ and dump)

NETS = {"resnet18": "resnet18", "mobilenet_v2": "mobilenet_v2",
        "shufflenet_v1": "shufflenet_v1_x0_5_g3"}


def dump(models: object, name: str, out_dir: str, rng: np.random.RandomState) -> str:
    mge.random.seed(0)
    net = getattr(models, NETS[name])()
    net.eval()
    calibration = [rng.randn(2, 3, 224, 224).astype("float32") for _ in range(2)]
    x = rng.randn(1, 3, 224, 224).astype("float32")
    return ptq_dump(net, calibration, x, os.path.join(out_dir, f"int8_{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-repo", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=sorted(NETS))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(args.models_repo, "official", "quantization"))
    import models  # the zoo's package (MegEngine/Models)

    os.makedirs(args.out, exist_ok=True)
    rng = np.random.RandomState(0)
    for name in args.nets:
        print(dump(models, name, args.out, rng))


if __name__ == "__main__":
    main()
