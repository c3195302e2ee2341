"""Vision datasets read from local files (MegEngine's ``megengine.data.dataset.vision``)."""

from .cifar import CIFAR10, CIFAR100
from .coco import COCO
from .folder import ImageFolder
from .meta_vision import VisionDataset
from .mnist import MNIST
from .objects365 import Objects365
from .voc import PascalVOC

__all__ = ["CIFAR10", "CIFAR100", "COCO", "MNIST", "ImageFolder", "Objects365", "PascalVOC",
           "VisionDataset"]
