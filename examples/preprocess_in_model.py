"""Preprocessing inside the model: a .mge whose input is a raw uint8 BGR image (NHWC).

The dumped graph resizes with ``F.vision.warp_perspective(..., format="NHWC")`` (the
matrix is a second input, computed per image from its size), converts BGR to RGB,
transposes to NCHW and normalizes with mean/std before the network, as in MegEngine's
deployment docs. To limit aliasing on large downscales it warps to twice the network's
size and averages 2x2 blocks (a bilinear warp alone samples only 4 pixels per output).
The network is a real pretrained classifier imported from ONNX.

Run:
    python examples/preprocess_in_model.py --onnx ../shared/models/mobilenet_v2_1.0_224_dq.onnx \
        --image ../shared/images/cat.bmp --out /tmp/mnv2_pre.mge
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mge
import mge.functional as F
from mge import jit
from mge.convert import from_onnx
from mge.lite import LiteNetwork


def crop_matrix(height: int, width: int, size: int) -> np.ndarray:
    """The warp matrix (output pixel -> input pixel) for "shorter side to ``size``, then
    center crop ``size`` x ``size``", with pixel centers aligned as a resize does."""
    scale = min(height, width) / size
    top = (height - size * scale) / 2
    left = (width - size * scale) / 2
    return np.array([[[scale, 0, left + 0.5 * scale - 0.5],
                      [0, scale, top + 0.5 * scale - 0.5],
                      [0, 0, 1]]], dtype=np.float32)


def read_bgr(path: str) -> np.ndarray:
    """An image file as uint8 ``[1, H, W, 3]`` BGR (what cv2.imread gives)."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[None, :, :, ::-1])


SUPERSAMPLE = 2


def preprocess(image: mge.Tensor, mat: mge.Tensor, size: int) -> mge.Tensor:
    """uint8 BGR NHWC image of any size -> float32 RGB NCHW ``[1, 3, size, size]`` in [-1, 1]."""
    big = size * SUPERSAMPLE
    x = F.vision.warp_perspective(image, mat, (big, big), format="NHWC")
    x = x[:, :, :, ::-1]                              # BGR -> RGB
    x = F.transpose(x.astype("float32"), (0, 3, 1, 2))  # NHWC -> NCHW
    x = F.avg_pool2d(x, SUPERSAMPLE)                  # anti-aliasing
    mean = mge.tensor(np.full((1, 3, 1, 1), 127.5, np.float32))
    std = mge.tensor(np.full((1, 3, 1, 1), 127.5, np.float32))
    return (x - mean) / std


def dump_with_preprocessing(onnx_path: str, out: str, example: np.ndarray) -> int:
    """Dump ``uint8 BGR NHWC image + warp matrix -> logits``; returns the network's input size."""
    net = from_onnx(onnx_path)
    size = net.graph.inputs[1].shape[-1]

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(image, mat, *, net):  # noqa: ANN001, ANN202
        return net(preprocess(image, mat, size))[-1]  # logits

    h, w = example.shape[1:3]
    infer(mge.tensor(example), mge.tensor(input_matrix(h, w, size)), net=net)
    infer.dump(out, arg_names=["image", "mat"], optimize_for_inference=True)
    return size


def input_matrix(height: int, width: int, size: int) -> np.ndarray:
    """The ``mat`` input for an image of ``height`` x ``width`` (crop at the warp's size)."""
    return crop_matrix(height, width, size * SUPERSAMPLE)


def classify(model: str, image: np.ndarray, size: int) -> np.ndarray:
    """Run the dumped model in mge.lite on a raw BGR image of any size; returns logits."""
    network = LiteNetwork()
    network.load(model)
    network.get_io_tensor("image").set_data_by_copy(image)
    network.get_io_tensor("mat").set_data_by_copy(input_matrix(*image.shape[1:3], size))
    network.forward()
    network.wait()
    return network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True, help="an ImageNet classifier (.onnx)")
    parser.add_argument("--image", required=True, help="an image file")
    parser.add_argument("--out", default="preprocess_in_model.mge", help="output .mge")
    args = parser.parse_args()
    image = read_bgr(args.image)
    size = dump_with_preprocessing(args.onnx, args.out, image)
    logits = classify(args.out, image, size).reshape(-1)
    labels = Path(args.onnx).with_name("imagenet_labels_1001.txt")
    names = labels.read_text().splitlines() if labels.exists() else None
    for k in np.argsort(-logits)[:5]:
        print(f"{k:5d} {names[k] if names else ''} {logits[k]:.3f}")


if __name__ == "__main__":
    main()
