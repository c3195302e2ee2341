"""Driver (run as a script, by mge under the ``megengine`` alias and by real MegEngine):
build one model of MegEngine/Models from the zoo's own code, load weights from an
``.npz`` (or write seeded random ones when the path ends in ``@make``), run it on seeded
inputs, save the outputs, and (``DUMP`` given) trace and dump it as ``.mge``.

    python megengine_models_zoo.py MODELS_DIR MODEL WEIGHTS[@make] OUT.npz [DUMP.mge]

``OUT.npz`` holds ``in__<name>`` (the inputs) and ``out<k>`` (the outputs, in order).
Models (:data:`MODELS`): detectors of ``official/vision/detection`` by config name,
``resnet18`` and ``shufflenet_v2_x0_5`` (classification), ``deeplabv3plus`` (DeepLab v3+,
ResNet-101, VOC config), ``simplebaseline_res50`` (keypoints), ``quantized_resnet18``
(the quantization example's ResNet-18: QAT, calibrated on the input, then int8).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import megengine as mge
import numpy as np
from megengine.jit import trace
from megengine_models_detector import load_weights  # beside this script

Builder = Callable[[], tuple[object, dict[str, np.ndarray]]]


def _image(*shape: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)


def _detector(config: str) -> Builder:
    def build() -> tuple[object, dict[str, np.ndarray]]:
        module = importlib.import_module(f"official.vision.detection.configs.{config}")
        cfg = module.Cfg()
        cfg.backbone_pretrained = False
        return module.Net(cfg), {
            "image": _image(1, 3, 256, 320),
            "im_info": np.array([[256, 320, 512, 640]], np.float32)}
    return build


def _classifier(family: str, name: str) -> Builder:
    def build() -> tuple[object, dict[str, np.ndarray]]:
        module = importlib.import_module(f"official.vision.classification.{family}.model")
        return getattr(module, name)(), {"data": _image(1, 3, 224, 224)}
    return build


def _deeplab() -> tuple[object, dict[str, np.ndarray]]:
    module = importlib.import_module(
        "official.vision.segmentation.configs.deeplabv3plus_res101_voc_512size")
    cfg = module.Cfg()
    cfg.backbone_pretrained = False
    return module.Net(cfg), {"data": _image(1, 3, 128, 128)}


def _simplebaseline() -> tuple[object, dict[str, np.ndarray]]:
    module = importlib.import_module("official.vision.keypoints.models.simplebaseline")
    module.cfg.backbone_pretrained = False
    return module.simplebaseline_res50(), {"data": _image(1, 3, 256, 192)}


def _avoid_dumped_clip_bug() -> None:
    """MegEngine 1.13 dumps ``F.clip(x, lower=0, upper=<tensor>)`` as a clip to 0 (its
    own Lite then computes empty proposals): the detectors' box clipping is traced as
    the same ``minimum(maximum(x, 0), upper)`` without ``F.clip``."""
    if "official.vision.detection.layers" not in sys.modules:
        return
    import megengine.functional as F

    layers = sys.modules["official.vision.detection.layers"]

    def clipped(boxes, hw):  # noqa: ANN001, ANN202 - the zoo's signature
        def clip(x, upper):  # noqa: ANN001, ANN202
            return F.minimum(F.maximum(x, 0), upper)

        return F.concat([clip(boxes[:, 0::4], hw[1]), clip(boxes[:, 1::4], hw[0]),
                         clip(boxes[:, 2::4], hw[1]), clip(boxes[:, 3::4], hw[0])], axis=1)

    layers.get_clipped_boxes = clipped


def _quantizable_resnet18() -> tuple[object, dict[str, np.ndarray]]:
    module = importlib.import_module("official.quantization.models.resnet")
    return module.resnet18(), {"data": _image(1, 3, 224, 224)}


def _quantized(net: object, inputs: dict[str, np.ndarray]) -> object:
    """The zoo's quantization flow (``official/quantization``): QAT modules with EMA
    fake-quant observers, one calibrating forward, then int8 modules for inference."""
    import megengine.quantization as Q
    from megengine.quantization.quantize import quantize, quantize_qat

    quantize_qat(net, qconfig=Q.ema_fakequant_qconfig)
    net.train()
    net(*(mge.tensor(v) for v in inputs.values()))
    quantize(net)
    net.eval()
    return net


#: what runs on a model after its (float) weights are loaded
PREPARE: dict[str, Callable[[object, dict[str, np.ndarray]], object]] = {
    "quantized_resnet18": _quantized}

MODELS: dict[str, Builder] = {
    **{c: _detector(c) for c in ("fcos_res18_coco_3x_800size", "atss_res18_coco_3x_800size",
                                 "freeanchor_res18_coco_3x_800size",
                                 "faster_rcnn_res18_coco_3x_800size")},
    "resnet18": _classifier("resnet", "resnet18"),
    "shufflenet_v2_x0_5": _classifier("shufflenet", "shufflenet_v2_x0_5"),
    "deeplabv3plus": _deeplab,
    "simplebaseline_res50": _simplebaseline,
    "quantized_resnet18": _quantizable_resnet18,
}


def main(models_dir: str, model: str, weights: str, out: str, dump: str | None = None
         ) -> None:
    sys.path.insert(0, models_dir)
    net, inputs = MODELS[model]()
    net.eval()
    load_weights(net, weights)
    net = PREPARE.get(model, lambda n, _: n)(net, inputs)
    outs = net(*(mge.tensor(v) for v in inputs.values()))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    np.savez(out, **{f"in__{k}": v for k, v in inputs.items()},
             **{f"out{k}": o.numpy() for k, o in enumerate(outs)})
    if dump:
        _avoid_dumped_clip_bug()
        # traced eagerly: the zoo's detectors check shapes in Python (``len(x.shape)``),
        # which MegEngine's symbolic tracing cannot answer
        traced = trace(lambda *args: net(*args), symbolic=False, capture_as_const=True)
        traced(*(mge.tensor(v) for v in inputs.values()))
        traced.dump(dump, arg_names=list(inputs), optimize_for_inference=False,
                    no_change_graph=True)  # MegEngine cannot dump GroupNorm otherwise


if __name__ == "__main__":
    main(*sys.argv[1:6])
