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
from megengine.jit import trace
from megengine.quantization import (
    calibration_qconfig,
    disable_observer,
    enable_observer,
    quantize,
    quantize_qat,
)
from megenginelite import LiteNetwork

NETS = {"resnet18": "resnet18", "mobilenet_v2": "mobilenet_v2",
        "shufflenet_v1": "shufflenet_v1_x0_5_g3"}


def dump(models: object, name: str, out_dir: str, rng: np.random.RandomState) -> str:
    mge.random.seed(0)
    net = getattr(models, NETS[name])()
    net.eval()
    qat = quantize_qat(net, calibration_qconfig)
    enable_observer(qat)
    for _ in range(2):
        qat(mge.tensor(rng.randn(2, 3, 224, 224).astype("float32")))
    disable_observer(qat)
    qnet = quantize(qat)
    qnet.eval()

    @trace(symbolic=True, capture_as_const=True)
    def infer(data):
        return qnet(data)

    x = rng.randn(1, 3, 224, 224).astype("float32")
    infer(mge.tensor(x))
    path = os.path.join(out_dir, f"int8_{name}.mge")
    infer.dump(path, arg_names=["data"], optimize_for_inference=True)
    lite = LiteNetwork()
    lite.load(path)
    lite.get_io_tensor(lite.get_all_input_name()[0]).set_data_by_copy(x)
    lite.forward()
    lite.wait()
    out = lite.get_io_tensor(lite.get_all_output_name()[0]).to_numpy().copy()
    np.savez(os.path.join(out_dir, f"int8_{name}.npz"), input=x, **{"lite/0": out})
    return path


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
