"""The vision transform base class, ``Compose`` and ``ToMode``.

A vision transform applies to a sample tuple whose fields are named by ``order``
(``("image", "boxes", "boxes_category", "mask", ...)``): each field goes to the
transform's ``_apply_<name>``; ``*category`` and ``*info`` fields pass through. Images are
``(H, W, C)`` BGR arrays, as MegEngine's and OpenCV's.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..meta_transform import Transform

# the corners (x, y) of a box (x0, y0, x1, y1): indices into the box's four numbers
_BOX_CORNERS = np.array([(0, 1), (2, 1), (0, 3), (2, 3)]).flatten()


class VisionTransform(Transform):
    """Base class of the vision transforms: dispatches each field of a sample by ``order``.

    Subclasses implement ``_apply_image`` and, where they change geometry,
    ``_apply_coords`` (``(N, 2)`` x/y points) and ``_apply_mask``; boxes, keypoints and
    polygons are derived from ``_apply_coords``.

    Example:
        >>> import numpy as np
        >>> class Invert(VisionTransform):
        ...     def _apply_image(self, image):
        ...         return 255 - image
        >>> Invert().apply(np.zeros((1, 1, 3), np.uint8))[0, 0]
        array([255, 255, 255], dtype=uint8)
    """

    def __init__(self, order: Sequence[str] | None = None) -> None:
        super().__init__()
        if order is None:
            order = ("image",)
        elif not isinstance(order, collections.abc.Sequence):
            raise ValueError(f"order should be a sequence, but got order={order}")
        for key in order:
            if key == "batch":
                raise ValueError(f"{key} is invalid data type")
            if key.endswith("category") or key.endswith("info"):
                continue
            if self._get_apply(key) is None:
                raise NotImplementedError(f"{key} is unsupported data type")
        self.order = order

    def apply(self, input: Any) -> Any:
        fields = input if isinstance(input, tuple) else (input,)
        output = []
        for key, field in zip(self.order, fields):
            apply_field = self._get_apply(key)
            output.append(field if apply_field is None else apply_field(field))
        output.extend(fields[len(self.order) :])
        return output[0] if len(output) == 1 else tuple(output)

    def _get_apply(self, key: str) -> Callable[[Any], Any] | None:
        return getattr(self, f"_apply_{key}", None)

    def _get_image(self, input: Any) -> np.ndarray:
        fields = input if isinstance(input, tuple) else (input,)
        return fields[self.order.index("image")]

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _apply_boxes(self, boxes: np.ndarray) -> np.ndarray:
        corners = np.asarray(boxes).reshape(-1, 4)[:, _BOX_CORNERS].reshape(-1, 2)
        corners = self._apply_coords(corners).reshape((-1, 4, 2))
        return np.concatenate((corners.min(axis=1), corners.max(axis=1)), axis=1)

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _apply_keypoints(self, keypoints: np.ndarray) -> np.ndarray:
        coords, visibility = keypoints[..., :2], keypoints[..., 2:]
        moved = [self._apply_coords(points) for points in coords]
        return np.concatenate((moved, visibility), axis=-1)

    def _apply_polygons(self, polygons: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        return [[self._apply_coords(p) for p in instance] for instance in polygons]


class ToMode(VisionTransform):
    """Change the layout of images and masks from ``HWC`` to ``mode`` (``"CHW"``).

    Example:
        >>> import numpy as np
        >>> ToMode("CHW").apply(np.zeros((4, 5, 3))).shape
        (3, 4, 5)
    """

    def __init__(self, mode: str = "CHW", *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if mode != "CHW":
            raise AssertionError(f"ToMode: unsupported mode: {mode!r} (only 'CHW')")
        self.mode = mode

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(image, 2, 0))

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(mask, 2, 0))


class Compose(VisionTransform):
    """Apply ``transforms`` one after the other.

    Args:
        transforms: the transforms; their ``order`` is set to this one's.
        batch_compose: apply each transform to the whole batch before the next one.
        shuffle_indices: groups of 1-based positions in ``transforms`` whose order is
            shuffled on each call (``[(2, 3)]`` swaps the 2nd and 3rd at random).
        order: names of the sample fields.

    Example:
        >>> import numpy as np
        >>> from mge.data.transform import Normalize
        >>> t = Compose([Normalize(mean=1.0), ToMode("CHW")])
        >>> t.apply(np.ones((2, 2, 3), np.float32)).shape
        (3, 2, 2)
    """

    def __init__(
        self,
        transforms: Sequence[VisionTransform] = (),
        batch_compose: bool = False,
        shuffle_indices: Sequence[tuple[int, ...]] | None = None,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.transforms = list(transforms)
        self._set_order()
        if batch_compose and shuffle_indices is not None:
            raise ValueError("Do not support shuffle when apply transforms along the whole batch")
        self.batch_compose = batch_compose
        self.shuffle_indices = (
            None
            if shuffle_indices is None
            else [tuple(i - 1 for i in group) for group in shuffle_indices]
        )

    def _set_order(self) -> None:
        for transform in self.transforms:
            transform.order = self.order
            if isinstance(transform, Compose):
                transform._set_order()

    def apply_batch(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        if not self.batch_compose:
            return super().apply_batch(inputs)
        for transform in self.transforms:
            inputs = transform.apply_batch(inputs)
        return tuple(inputs)

    def apply(self, input: Any) -> Any:
        for transform in self._ordered_transforms():
            input = transform.apply(input)
        return input

    def _ordered_transforms(self) -> list[VisionTransform]:
        if self.shuffle_indices is None:
            return self.transforms
        source = list(range(len(self.transforms)))
        for group in self.shuffle_indices:
            for position, chosen in zip(group, np.random.permutation(group).tolist()):
                source[position] = chosen
        return [self.transforms[i] for i in source]
