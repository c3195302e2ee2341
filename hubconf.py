"""mge's reference models as hub entries (``mge.hub`` / ``megengine.hub`` format).

Entries: ``resnet18``, ``resnet50``, ``shufflenet_v2_x1_0`` and ``mobilenet_v2`` from
:mod:`mge.models`; each takes the model's keyword arguments plus ``pretrained=False``.
With ``pretrained=True`` the weights (a pickled ``state_dict``) come from
``$MGE_WEIGHTS_URL/<file>``, by default MegEngine's own server
``https://data.megengine.org.cn/models/weights``, with MegEngine's file names (the
models share MegEngine/Models' layouts, so those files load as they are). MegEngine
publishes no float MobileNetV2 with ReLU6, so ``mobilenet_v2_relu6.pkl`` has to be
provided: on a mirror named by ``$MGE_WEIGHTS_URL``, or placed in the cache path that
the offline error names.

Example:
    >>> import mge.hub as hub
    >>> net = hub.load(".", "resnet18", num_classes=10)                   # doctest: +SKIP
    >>> net = hub.load(".", "resnet18", pretrained=True)                  # doctest: +SKIP
"""

import os

from mge import hub, models

dependencies = ["numpy"]

WEIGHTS_URL = os.environ.get(
    "MGE_WEIGHTS_URL", "https://data.megengine.org.cn/models/weights"
).rstrip("/")

resnet18 = hub.pretrained(f"{WEIGHTS_URL}/resnet18_naiveaug_70312_78a63ca6.pkl")(
    models.resnet18
)
resnet50 = hub.pretrained(f"{WEIGHTS_URL}/resnet50_fbaug_76254_4e14b7d1.pkl")(models.resnet50)
shufflenet_v2_x1_0 = hub.pretrained(f"{WEIGHTS_URL}/snetv2_x1_0_69369_daf9dba0.pkl")(
    models.shufflenet_v2_x1_0
)
mobilenet_v2 = hub.pretrained(f"{WEIGHTS_URL}/mobilenet_v2_relu6.pkl")(models.mobilenet_v2)
