"""MegEngine's ``megengine.data``: datasets, samplers, transforms and the DataLoader.

Example:
    >>> import numpy as np
    >>> from mge.data import DataLoader, RandomSampler
    >>> from mge.data.dataset import ArrayDataset
    >>> ds = ArrayDataset(np.zeros((6, 2), "float32"))
    >>> [b[0].shape for b in DataLoader(ds, RandomSampler(ds, batch_size=4, seed=0))]
    [(4, 2), (2, 2)]
"""

from . import dataset, transform
from .collator import Collator
from .dataloader import DataLoader, get_worker_info
from .sampler import (
    Infinite,
    MapSampler,
    RandomSampler,
    ReplacementSampler,
    Sampler,
    SequentialSampler,
    StreamSampler,
)

__all__ = [
    "Collator",
    "DataLoader",
    "Infinite",
    "MapSampler",
    "RandomSampler",
    "ReplacementSampler",
    "Sampler",
    "SequentialSampler",
    "StreamSampler",
    "dataset",
    "get_worker_info",
    "transform",
]
