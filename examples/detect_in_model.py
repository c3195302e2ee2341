"""A detector whose .mge does everything after decoding: cropping, preprocessing, scoring, NMS.

The model takes a raw uint8 BGR image (``image``, ``[1, H, W, 3]``, what cv2.imread gives)
and candidate windows (``windows``, ``[K, 4]`` pixel boxes ``x0, y0, x1, y1``). Inside the
graph it builds one warp matrix per window, crops and resizes every window with a single
``warp_perspective`` (``mat_idx`` maps all K matrices to the one image), converts BGR to
RGB and normalizes, scores each crop with a real pretrained classifier (the probability
of a set of ImageNet classes, cats by default), sorts by score and runs ``NMSKeep``.
Its outputs are the sorted boxes and scores, the kept indices (padded to
``max_output``) and their count: shapes stay static, so the file runs in mge.lite and in
real MegEngine Lite alike; the caller keeps ``keep[0, :count[0]]``.

Run (the classifier defaults to MobileNetV1 0.25/128 shipped in ``mge.assets``):
    python examples/detect_in_model.py --image ../shared/images/cat.bmp --out cat_boxes.png
"""

from __future__ import annotations

import argparse

import numpy as np

import mge
import mge.functional as F
from mge import jit
from mge.assets import MOBILENET_V1, imagenet_labels
from mge.convert import from_onnx
from mge.core.apply import apply
from mge.lite import LiteNetwork
from mge.ops.vision.detection import NMSKeep

#: ImageNet classes (1001-class indexing: 0 is background) scored by default: the cats
CATS = (282, 283, 284, 285, 286)
#: window sides, as fractions of the image's shorter side
SCALES = (0.45, 0.65, 0.85)
#: the model's outputs
OUTPUTS = ("ranked_boxes", "ranked_scores", "keep", "count")


def read_bgr(path: str) -> np.ndarray:
    """An image file as uint8 ``[1, H, W, 3]`` BGR."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read an image from {path}")
    return image[None]


def windows(height: int, width: int) -> np.ndarray:
    """Square candidate windows at a few scales, a quarter of their side apart."""
    out = []
    for scale in SCALES:
        side = scale * min(height, width)
        step = side / 4
        for y0 in np.arange(0, height - side + 1, step):
            for x0 in np.arange(0, width - side + 1, step):
                out.append((x0, y0, x0 + side, y0 + side))
    return np.array(out, dtype=np.float32)


def crop_matrices(boxes: mge.Tensor, size: int) -> mge.Tensor:
    """Per box, the warp matrix (output pixel -> input pixel) resizing it to ``size``
    with pixel centers aligned; built from the box tensor inside the graph."""
    x0, y0, x1, y1 = (boxes[:, k] for k in range(4))
    sx, sy = (x1 - x0) / size, (y1 - y0) / size
    zero = F.zeros_like(sx)
    row0 = F.stack([sx, zero, x0 + 0.5 * sx - 0.5], axis=1)
    row1 = F.stack([zero, sy, y0 + 0.5 * sy - 0.5], axis=1)
    row2 = F.stack([zero, zero, zero + 1], axis=1)
    return F.stack([row0, row1, row2], axis=1)


def detect(image: mge.Tensor, boxes: mge.Tensor, *, net, size: int,  # noqa: ANN001
           classes: tuple[int, ...], iou_thresh: float, max_output: int) -> tuple:
    """The model: ``(sorted boxes, sorted scores, kept indices [1, max_output], count [1])``."""
    k = boxes.shape[0]
    mats = crop_matrices(boxes, size)
    to_image = mge.tensor(np.zeros(k, np.int32))
    crops = F.vision.warp_perspective(image, mats, (size, size), mat_idx=to_image,
                                      format="NHWC")
    x = F.transpose(crops[:, :, :, ::-1].astype("float32"), (0, 3, 1, 2))  # BGR NHWC -> RGB NCHW
    probs = net((x - 127.5) / 127.5)[0]
    score = probs[:, list(classes)].sum(axis=1)
    order = F.argsort(score, descending=True)
    ranked = boxes[order]
    keep, count = apply(NMSKeep(iou_thresh=iou_thresh, max_output=max_output),
                        ranked.reshape(1, k, 4))
    return ranked, score[order], keep, count


def batch_free(onnx_path: str) -> bytes:
    """The classifier with a free batch axis: its input's batch becomes symbolic and a
    ``Reshape`` to ``[1, ...]`` becomes ``[-1, ...]`` (single-image exports bake both)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for k, init in enumerate(model.graph.initializer):
        arr = numpy_helper.to_array(init)
        if init.name in shapes and arr.ndim == 1 and arr[0] == 1:
            model.graph.initializer[k].CopyFrom(
                numpy_helper.from_array(np.concatenate([[-1], arr[1:]]).astype(arr.dtype),
                                        init.name))
    return model.SerializeToString()


def dump_detector(out: str, image: np.ndarray, onnx_path: str = str(MOBILENET_V1),
                  classes: tuple[int, ...] = CATS, iou_thresh: float = 0.3,
                  max_output: int = 5) -> tuple:
    """Dump the detector for images of ``image``'s size to ``out``; returns the eager
    outputs on ``image`` (for checking the file)."""
    net = from_onnx(batch_free(onnx_path), trace=False)
    size = net.example_inputs()[0].shape[-1]

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(image, boxes, *, net):  # noqa: ANN001, ANN202
        return detect(image, boxes, net=net, size=size, classes=classes,
                      iou_thresh=iou_thresh, max_output=max_output)

    boxes = windows(*image.shape[1:3])
    eager = [t.numpy() for t in infer(mge.tensor(image), mge.tensor(boxes), net=net)]
    infer.dump(out, arg_names=["image", "windows"], output_names=list(OUTPUTS))
    return tuple(eager)


def run_detector(model: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Run the dumped detector in mge.lite; returns its four outputs by name."""
    network = LiteNetwork()
    network.load(model)
    network.get_io_tensor("image").set_data_by_copy(image)
    network.get_io_tensor("windows").set_data_by_copy(windows(*image.shape[1:3]))
    network.forward()
    network.wait()
    return {name: network.get_io_tensor(name).to_numpy() for name in OUTPUTS}


def kept(outputs: dict[str, np.ndarray], min_score: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray]:
    """The boxes NMS kept scoring at least ``min_score``, best first, and their scores."""
    idx = outputs["keep"][0, :int(outputs["count"][0])]
    idx = idx[outputs["ranked_scores"][idx] >= min_score]
    return outputs["ranked_boxes"][idx], outputs["ranked_scores"][idx]


def draw(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, path: str) -> None:
    """Write ``image`` (BGR ``[1, H, W, 3]``) with the boxes and scores drawn to a PNG."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image[0, :, :, ::-1]))
    pen = ImageDraw.Draw(canvas)
    for (x0, y0, x1, y1), score in zip(boxes.tolist(), scores.tolist(), strict=True):
        pen.rectangle((x0, y0, x1, y1), outline=(255, 40, 40), width=3)
        pen.text((x0 + 4, y0 + 2), f"{score:.2f}", fill=(255, 255, 0))
    canvas.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="an image file")
    parser.add_argument("--onnx", default=str(MOBILENET_V1), help="an ImageNet classifier "
                        "with 1001 classes whose first output is probabilities")
    parser.add_argument("--classes", default=",".join(map(str, CATS)),
                        help="comma-separated class indices to detect (1001-class indexing)")
    parser.add_argument("--min-score", type=float, default=0.3, help="boxes scoring less "
                        "are not shown")
    parser.add_argument("--model", default="detector.mge", help="the .mge to write")
    parser.add_argument("--out", default="detections.png", help="the PNG to write")
    args = parser.parse_args()
    image = read_bgr(args.image)
    classes = tuple(int(c) for c in args.classes.split(","))
    dump_detector(args.model, image, args.onnx, classes)
    boxes, scores = kept(run_detector(args.model, image), args.min_score)
    names = imagenet_labels()
    print(f"detecting {', '.join(names[c] for c in classes)}")
    for box, score in zip(boxes, scores, strict=True):
        print(f"{score:.3f} at {np.round(box).astype(int).tolist()}")
    draw(image, boxes, scores, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
