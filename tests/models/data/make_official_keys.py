"""Writes official_state_keys.json: state_dict keys and shapes of MegEngine's official models.

Run with real MegEngine 1.13 (``.oracle/bin/python``) and a checkout of MegEngine/Models:
    .oracle/bin/python tests/models/data/make_official_keys.py /path/to/Models
It imports ``official/vision/classification/{resnet,shufflenet}/model.py`` and
``official/quantization/models/mobilenet_v2.py`` and records, in order, every
``(key, shape)`` of ``state_dict()`` for resnet18, resnet50, shufflenet_v2_x1_0 and
mobilenet_v2 (whose official file uses ReLU; activations hold no state).
"""

import importlib.util
import json
import os
import sys


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(models_repo: str) -> None:
    root = os.path.join(models_repo, "official")
    resnet = _load(os.path.join(root, "vision/classification/resnet/model.py"), "off_resnet")
    shufflenet = _load(os.path.join(root, "vision/classification/shufflenet/model.py"),
                       "off_shufflenet")
    mobilenet = _load(os.path.join(root, "quantization/models/mobilenet_v2.py"), "off_mbv2")
    builders = {
        "resnet18": resnet.resnet18,
        "resnet50": resnet.resnet50,
        "shufflenet_v2_x1_0": shufflenet.shufflenet_v2_x1_0,
        "mobilenet_v2": mobilenet.mobilenet_v2,
    }
    out = {name: [[k, list(v.shape)] for k, v in fn().state_dict().items()]
           for name, fn in builders.items()}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "official_state_keys.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
