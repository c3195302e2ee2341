"""The transform cases compared with real MegEngine 1.13, runnable on either side.

``run_cases(T)`` applies every case to a crop of each shared photo, with numpy's and
Python's random state seeded per case and photo, and returns ``{"<case>/<photo>": output}``
(``T`` is ``megengine.data.transform`` or ``mge.data.transform``).

Run as a script with the oracle interpreter, it writes MegEngine's outputs and its OpenCV
version (the golden file the tests compare with)::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tests/data/transform_cases.py \
        ../shared/images tests/fixtures/data/transforms_megengine.npz

This file runs under MegEngine's Python 3.10 and numpy 1 too: keep it plain.
"""

import os
import random
import sys

import numpy as np

PHOTOS = ("cat.bmp", "chelsea.png", "grace_hopper.bmp")
CROP = (24, 32)  # (height, width) from the photo's centre: small golden files
MEAN = [103.530, 116.280, 123.675]
STD = [57.375, 57.120, 58.395]
INTER_NEAREST, INTER_LINEAR, INTER_CUBIC, INTER_AREA, INTER_LANCZOS4 = 0, 1, 2, 3, 4

CASES = {
    "Resize_short_edge": lambda T: T.Resize(16),
    "Resize_hw_linear": lambda T: T.Resize((12, 20)),
    "Resize_hw_nearest": lambda T: T.Resize((12, 20), INTER_NEAREST),
    "Resize_hw_cubic": lambda T: T.Resize((20, 40), INTER_CUBIC),
    "Resize_hw_area": lambda T: T.Resize((12, 20), INTER_AREA),
    "Resize_hw_lanczos": lambda T: T.Resize((20, 40), INTER_LANCZOS4),
    "ShortestEdgeResize": lambda T: T.ShortestEdgeResize((12, 24), 32),
    "RandomResize": lambda T: T.RandomResize((0.5, 1.5)),
    "CenterCrop": lambda T: T.CenterCrop((16, 20)),
    "RandomResizedCrop": lambda T: T.RandomResizedCrop(16),
    "RandomCrop": lambda T: T.RandomCrop(20, padding_size=4, padding_value=[1, 2, 3]),
    "RandomCrop_pad_to_output": lambda T: T.RandomCrop((30, 40)),
    "RandomHorizontalFlip": lambda T: T.RandomHorizontalFlip(1.0),
    "RandomVerticalFlip": lambda T: T.RandomVerticalFlip(1.0),
    "Pad_int": lambda T: T.Pad(3, value=7),
    "Pad_float_value": lambda T: T.Pad((2, 5), value=1.5),
    "Pad_four": lambda T: T.Pad((1, 2, 3, 4), value=[10, 20, 30]),
    "Normalize": lambda T: T.Normalize(MEAN, STD),
    "ToMode": lambda T: T.ToMode("CHW"),
    "GaussianNoise": lambda T: T.GaussianNoise(std=0.05),
    "BrightnessTransform": lambda T: T.BrightnessTransform(0.5),
    "ContrastTransform": lambda T: T.ContrastTransform(0.5),
    "SaturationTransform": lambda T: T.SaturationTransform(0.5),
    "HueTransform": lambda T: T.HueTransform(0.4),
    "ColorJitter": lambda T: T.ColorJitter(0.4, 0.4, 0.4, 0.2),
    "Lighting": lambda T: T.Lighting(0.1),
    "Compose_tutorial": lambda T: T.Compose(
        [T.Resize(20), T.CenterCrop(16), T.Normalize(MEAN, STD), T.ToMode("CHW")]
    ),
    "Compose_augment": lambda T: T.Compose(
        [T.RandomResizedCrop(16), T.RandomHorizontalFlip(), T.ColorJitter(0.3, 0.3, 0.3),
         T.Lighting(0.1), T.ToMode("CHW")]
    ),
}


def load_crop(path):
    """The centre ``CROP`` of a photo, decoded by OpenCV (BGR, uint8)."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    h, w = image.shape[:2]
    top, left = (h - CROP[0]) // 2, (w - CROP[1]) // 2
    return np.ascontiguousarray(image[top : top + CROP[0], left : left + CROP[1]])


def run_cases(T, image_dir):
    """``{"<case>/<photo>": output}`` for every case and photo (seeded per pair)."""
    outputs = {}
    for case_index, (name, build) in enumerate(sorted(CASES.items())):
        for photo_index, photo in enumerate(PHOTOS):
            image = load_crop(os.path.join(image_dir, photo))
            seed = 1000 * case_index + photo_index
            np.random.seed(seed)
            random.seed(seed)
            transform = build(T)
            outputs[name + "/" + photo] = np.asarray(transform.apply(image))
    return outputs


if __name__ == "__main__":
    import cv2
    import megengine.data.transform as megengine_transforms

    image_dir, out_path = sys.argv[1], sys.argv[2]
    outputs = run_cases(megengine_transforms, image_dir)
    np.savez_compressed(out_path, opencv_version=np.array(cv2.__version__), **outputs)
    print("wrote", out_path)
