"""Datasets (MegEngine's ``megengine.data.dataset``)."""

from .meta_dataset import ArrayDataset, ConcatDataset, Dataset, StreamDataset
from .vision import (
    CIFAR10,
    CIFAR100,
    COCO,
    MNIST,
    ImageFolder,
    Objects365,
    PascalVOC,
    VisionDataset,
)

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "COCO",
    "MNIST",
    "ArrayDataset",
    "ConcatDataset",
    "Dataset",
    "ImageFolder",
    "Objects365",
    "PascalVOC",
    "StreamDataset",
    "VisionDataset",
]
