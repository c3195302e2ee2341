"""Walk-through 3: mge.lite inference printing the top-5 classes of an image.

The docs' loop: ``get_io_tensor("data")``, ``set_data_by_share``, ``forward``, ``wait``,
``get_all_output_name``, ``to_numpy``. The model is any classifier .mge whose input
``data`` is float32 NCHW normalized as ``pixel / 127.5 - 1`` (e.g. one made from
../shared/models with ``python -m mge.convert``).

Run:
    python -m mge.convert onnx_to_mge -i ../shared/models/mobilenet_v2_1.0_224_dq.onnx -o mnv2.mge
    python examples/lite_inference.py mnv2.mge ../shared/images/cat.bmp \
        --labels ../shared/models/imagenet_labels_1001.txt
"""

from __future__ import annotations

import argparse

import numpy as np

from mge.lite import LiteNetwork


def load_image(path: str, size: int) -> np.ndarray:
    """RGB, shorter side to ``size``, center crop, ``/127.5 - 1``, NCHW float32."""
    from mge.demo import preprocess

    return preprocess(path, size)


def top5(model: str, image: str, labels: list[str] | None = None) -> list[tuple[int, str, float]]:
    """(class index, label, probability) of the five most likely classes."""
    network = LiteNetwork()
    network.load(model)
    name = network.get_input_name(0)
    data_tensor = network.get_io_tensor(name)
    size = data_tensor.layout.shapes[-1]
    img = load_image(image, size)
    data_tensor.set_data_by_share(img)
    network.forward()
    network.wait()
    scores = network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()
    probs = scores.reshape(-1).astype(np.float64)
    if probs.min() < 0 or abs(probs.sum() - 1) > 1e-3:  # logits: apply softmax
        probs = np.exp(probs - probs.max())
        probs /= probs.sum()
    best = np.argsort(-probs)[:5]
    return [(int(k), labels[k] if labels else str(k), float(probs[k])) for k in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a classifier .mge")
    parser.add_argument("image", help="an image file")
    parser.add_argument("--labels", help="class names, one per line")
    args = parser.parse_args()
    labels = open(args.labels).read().splitlines() if args.labels else None
    for k, label, p in top5(args.model, args.image, labels):
        print(f"{k:5d}  {label:<32} {p:.4f}")


if __name__ == "__main__":
    main()
