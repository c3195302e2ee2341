"""Datasets: arrays, concatenation and the readers of local files."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from mge.data.dataset import (
    CIFAR10,
    CIFAR100,
    COCO,
    MNIST,
    ArrayDataset,
    ConcatDataset,
    Dataset,
    ImageFolder,
    Objects365,
    PascalVOC,
    StreamDataset,
)

cv2 = pytest.importorskip("cv2", reason="the image datasets need OpenCV (the 'vision' extra)")


def test_abstract_and_array_datasets() -> None:
    with pytest.raises(TypeError):
        Dataset()
    with pytest.raises(TypeError):
        StreamDataset()
    with pytest.raises(ValueError, match="inconsistent"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(2))
    both = ConcatDataset([ArrayDataset(np.arange(2)), ArrayDataset(np.arange(10, 13))])
    assert len(both) == 5 and both[2] == (10,) and both[-1] == (12,)
    with pytest.raises(IndexError, match="out of range"):
        both[5]


def _write_idx(tmp: Path, train: bool, images: np.ndarray, labels: np.ndarray) -> None:
    prefix = "train" if train else "t10k"
    with gzip.open(tmp / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">iiii", 2051, len(images), 28, 28) + images.tobytes())
    with gzip.open(tmp / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">ii", 2049, len(labels)) + labels.tobytes())


def test_mnist_reads_local_idx_files(tmp_path: Path) -> None:
    images = np.random.RandomState(0).randint(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    _write_idx(tmp_path, True, images, labels)
    _write_idx(tmp_path, False, images[:2], labels[:2])
    train = MNIST(str(tmp_path), train=True, download=False)
    image, label = train[3]
    assert len(train) == 5 and image.shape == (28, 28, 1) and label == 3
    np.testing.assert_array_equal(image[..., 0], images[3])
    assert label.dtype == np.int32 and len(MNIST(str(tmp_path), train=False)) == 2


def test_missing_files_name_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=f"place it at {tmp_path}.*train-images"):
        MNIST(str(tmp_path), download=True)
    with pytest.raises(ValueError, match="does not contain the raw files"):
        MNIST(str(tmp_path), download=False)
    with pytest.raises(RuntimeError, match=f"{tmp_path}/cifar-10-batches-py"):
        CIFAR10(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        CIFAR100(str(tmp_path / "nowhere"), download=False)


def test_cifar_reads_python_batches_as_data_only(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rgb = np.random.RandomState(1).randint(0, 256, (4, 3, 32, 32)).astype(np.uint8)
    batch = {b"data": rgb.reshape(4, -1), b"fine_labels": [5, 6, 7, 8],
             b"coarse_labels": [1, 1, 2, 2]}
    (folder / "test").write_bytes(pickle.dumps(batch, protocol=2))
    dataset = CIFAR100(str(tmp_path), train=False)
    image, fine, coarse = dataset[2]
    np.testing.assert_array_equal(image, rgb[2].transpose(1, 2, 0)[..., ::-1])  # HWC, BGR
    assert (fine, coarse) == (7, 2) and len(dataset) == 4

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "train").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="os.system|posix.system"):
        CIFAR100(str(tmp_path), train=True)


def test_image_folder_labels_and_unreadable_files(tmp_path: Path) -> None:
    for name, value in (("b_dog", 200), ("a_cat", 100)):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "x.png"), np.full((3, 4, 3), value, np.uint8))
    (tmp_path / "a_cat" / "notes.txt").write_text("not an image")
    dataset = ImageFolder(str(tmp_path))
    assert len(dataset) == 2 and dataset.class_dict == {"a_cat": 0, "b_dog": 1}
    image, label = dataset[1]
    assert image.shape == (3, 4, 3) and image[0, 0, 0] == 200 and label == 1
    assert ImageFolder(str(tmp_path), class_name=True)[0][1] == "a_cat"
    (tmp_path / "a_cat" / "y.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match="cannot decode.*y.png"):
        ImageFolder(str(tmp_path))[1]


def test_coco_annotations(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((10, 20, 3), np.uint8))
    annotations = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": 10, "width": 20},
                   {"id": 3, "file_name": "b.jpg", "height": 5, "width": 5}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [1, 2, 3, 4], "category_id": 18, "iscrowd": 0,
             "segmentation": [[0, 0, 1, 0, 1, 1]]},
            {"id": 2, "image_id": 7, "bbox": [0, 0, 5, 5], "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 2, 3, 3, 2, 3]]},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(annotations))
    order = ("image", "boxes", "boxes_category", "polygons", "info")
    dataset = COCO(str(tmp_path), str(path), remove_images_without_annotations=True, order=order)
    assert len(dataset) == 1
    image, boxes, categories, polygons, info = dataset[0]
    assert image.shape == (10, 20, 3) and info == [10, 20, "a.jpg"]
    np.testing.assert_array_equal(boxes, [[1, 2, 4, 6], [0, 0, 5, 5]])
    assert categories.tolist() == [2, 1] and polygons[0][0].shape == (3, 2)
    assert len(COCO(str(tmp_path), str(path), order=("info",))) == 2
    with pytest.raises(NotImplementedError, match="mask"):
        COCO(str(tmp_path), str(path), order=("mask",))
    objects = Objects365(str(tmp_path), str(path), remove_images_without_annotations=True,
                         order=("boxes", "boxes_category", "info"))
    assert objects[0][1].tolist() == [2, 1] and objects[0][2] == [10, 20, "a.jpg"]
    with pytest.raises(NotImplementedError, match="polygons"):
        Objects365(str(tmp_path), str(path), order=("polygons",))


def test_detection_class_names() -> None:
    assert len(COCO.class_names) == 80 and COCO.class_names[:2] == ("person", "bicycle")
    assert COCO.class_names[-1] == "toothbrush"
    assert len(Objects365.class_names) == 365 and len(set(Objects365.class_names)) == 365
    assert Objects365.class_names[:3] == ("person", "sneakers", "chair")


def test_pascal_voc_detection(tmp_path: Path) -> None:
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (tmp_path / sub).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "JPEGImages" / "001.jpg"), np.zeros((8, 9, 3), np.uint8))
    (tmp_path / "ImageSets/Main/val.txt").write_text("001\n")
    (tmp_path / "Annotations/001.xml").write_text(
        "<annotation><object><name>dog</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>5</xmax><ymax>7</ymax></bndbox></object><object><name>cat</name><bndbox>"
        "<xmin>0</xmin><ymin>0</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>"
        "</annotation>")
    dataset = PascalVOC(str(tmp_path), "val", order=("image", "boxes", "boxes_category", "info"))
    image, boxes, categories, info = dataset[0]
    np.testing.assert_array_equal(boxes, [[1, 2, 5, 7], [0, 0, 3, 3]])
    assert categories.tolist() == [12, 8] and info == [8, 9, "001"]
    with pytest.raises(ValueError, match="not both"):
        PascalVOC(str(tmp_path), "val", order=("image", "boxes", "mask"))


def test_pascal_voc_segmentation_palette(tmp_path: Path) -> None:
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (tmp_path / sub).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "JPEGImages" / "002.jpg"), np.zeros((2, 2, 3), np.uint8))
    mask = np.zeros((2, 2, 3), np.uint8)
    mask[0, 1] = (0, 0, 128)  # aeroplane: RGB (128, 0, 0)
    mask[1, 0] = (128, 64, 0)  # tvmonitor (20): RGB (0, 64, 128)
    mask[1, 1] = (192, 224, 224)  # the VOC "void" border color
    cv2.imwrite(str(tmp_path / "SegmentationClass" / "002.png"), mask)
    (tmp_path / "ImageSets/Segmentation/val.txt").write_text("002\n")
    (_, label) = PascalVOC(str(tmp_path), "val", order=("image", "mask"))[0]
    assert label[..., 0].tolist() == [[0, 1], [20, 255]]
