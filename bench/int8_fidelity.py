"""Fidelity of the int8 plan backends that are not bit-exact (``openvino-int8``,
``onnxruntime-int8``) against the exact numpy int8 kernels (bit for bit MegEngine Lite's).

    python bench/int8_fidelity.py /tmp/int8-bench [--models resnet18 mobilenet_v2_real]
        [--backends openvino-int8 onnxruntime-int8] [--crops 200]

The int8 dumps of ``bench/int8_models.py`` (batch 1 for the three shared photos' centre
crops, batch 8 for the random crops/flips; ResNet-18 with its last output only). Per
model and backend: the largest |logit difference| to numpy over every input, whether the
top-1 equals numpy's on each photo, and on how many of the random crops it does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mge.lite as L  # noqa: E402
from bench.common import print_table  # noqa: E402
from bench.int8_models import MODELS, one_output, paths, prepare  # noqa: E402
from tests.quantization.mobilenet_ptq import center_crop, photos, random_crops  # noqa: E402


def logits(path: Path, backend: str, batches: list[np.ndarray]) -> np.ndarray:
    """The last output of the ``.mge`` at ``path`` on ``backend`` for every batch."""
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.load(str(path))
    data = net.get_io_tensor(net.get_all_input_name()[0])
    out = net.get_io_tensor(net.get_all_output_name()[-1])
    found = []
    for x in batches:
        data.set_data_by_copy(np.ascontiguousarray(x))
        net.forward()
        net.wait()
        found.append(out.to_numpy().reshape(len(x), -1).copy())
    return np.concatenate(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=["openvino-int8", "onnxruntime-int8"])
    parser.add_argument("--crops", type=int, default=200, help="a multiple of 8")
    args = parser.parse_args()
    images = photos()
    centre = [center_crop(im) for im in images]
    crops = np.concatenate(list(random_crops(images, args.crops, seed=7)))
    crop_batches = [crops[k:k + 8] for k in range(0, len(crops), 8)]
    rows = []
    for model in args.models:
        prepare(args.workdir, model, [1, 8])
        one, eight = (one_output(paths(args.workdir, model, b)[0]) for b in (1, 8))
        ref_photos = logits(one, "numpy", centre)
        ref_crops = logits(eight, "numpy", crop_batches)
        for backend in args.backends:
            got_photos = logits(one, backend, centre)
            got_crops = logits(eight, backend, crop_batches)
            diff = max(np.abs(got_photos - ref_photos).max(), np.abs(got_crops - ref_crops).max())
            same = got_crops.argmax(1) == ref_crops.argmax(1)
            rows.append([model, backend, f"{diff:.3f}",
                         f"{np.abs(ref_crops).max():.1f}",
                         " ".join("=" if a == b else f"{a}!={b}" for a, b in zip(
                             got_photos.argmax(1), ref_photos.argmax(1), strict=True)),
                         f"{same.sum()}/{len(same)}"])
    print_table("int8 backends against the exact numpy kernels",
                ["model", "backend", "max |logit diff|", "max |logit|", "top-1 on 3 photos",
                 "top-1 equal on crops"], rows)


if __name__ == "__main__":
    main()
