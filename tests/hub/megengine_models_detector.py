"""Driver (run as a script, by mge under the ``megengine`` alias and by real MegEngine):
build a detector of MegEngine/Models (``official/vision/detection``) from its config
module, load weights from an ``.npz`` (or write seeded random ones when the path ends
in ``@make``), and save its inference outputs for one seeded 256x320 image.

    python megengine_models_detector.py MODELS_DIR CONFIG WEIGHTS[@make] OUT.npz
"""

from __future__ import annotations

import importlib
import sys

import megengine as mge
import numpy as np
from random_weights import random_weights  # beside this script


def load_weights(net, weights: str) -> None:  # noqa: ANN001 - a megengine Module
    """Load ``weights`` (an npz) into ``net``; ``PATH@make`` first writes seeded
    :func:`random_weights` for ``net`` to ``PATH`` (the side that runs first makes them)."""
    if weights.endswith("@make"):
        state = random_weights({k: np.asarray(v) for k, v in net.state_dict().items()})
        np.savez(weights[:-len("@make")], **state)
    else:
        state = dict(np.load(weights))
    net.load_state_dict(state)


def main(models_dir: str, config: str, weights: str, out: str) -> None:
    sys.path.insert(0, models_dir)
    module = importlib.import_module(f"official.vision.detection.configs.{config}")
    cfg = module.Cfg()
    cfg.backbone_pretrained = False
    net = module.Net(cfg)
    net.eval()
    load_weights(net, weights)
    image = np.random.default_rng(1).uniform(0, 255, (1, 3, 256, 320)).astype(np.float32)
    im_info = np.array([[256, 320, 512, 640]], np.float32)
    score, boxes = net(mge.tensor(image), mge.tensor(im_info))
    np.savez(out, score=score.numpy(), boxes=boxes.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:5])
