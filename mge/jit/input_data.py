"""Test-case input data as MegEngine's ``dump(input_data=...)`` and ``dump_with_testcase`` read it.

A *case spec* gives data for every model input: ``"name:source;name2:source2"``. The
name may be left out when the model has one input, and a lone ``#rand(...)`` spec feeds
every input. A *source* is:

* ``#rand(min,max)``: uniform random data of the input's shape (``np.random``, so
  ``np.random.seed`` makes it reproducible); ``#rand(min,max,1,3,224,224)`` gives the
  shape, ``#rand(min,max,1,...)`` its leading dims (``...``: the rest of the input's);
* an image file (png, jpg, bmp, ppm, ...): read like ``cv2.imread(path, IMREAD_COLOR)``
  (8-bit BGR, EXIF orientation applied), optionally resized (bilinear, MegEngine's
  ``Resize``; within 1 of ``cv2.resize``) to the input's height and width, converted to
  gray for 1-channel inputs (exactly as ``cv2.cvtColor``),
  laid out NCHW or NHWC to match the input's shape;
* a ``.npy`` file (never unpickled).

File data can be repeated along the batch axis (``repeat``) and transformed by a Python
expression of ``data`` and ``np`` (``input_transform``, e.g. ``"data / 255"``); both are
MegEngine's options and do not apply to random data. The result is cast to the input's
dtype and must have exactly the input's shape (mge graphs have static shapes).
Items starting with ``@`` name a text file with one case spec per line.

Every problem raises :class:`InputDataError` with a one-line message.

Example:
    >>> np.random.seed(0)
    >>> data = read_case("#rand(0,1)", {"x": ((2, 3), np.dtype("float32"))})
    >>> data["x"].shape, data["x"].dtype
    ((2, 3), dtype('float32'))
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..backends import get_backend
from ..core.apply import run_op
from ..ops.vision import ResizeForward
from ..serialization.memory_budget import format_size, resolve_budget, tensor_bytes

InputSpecs = Mapping[str, tuple[Sequence[int], Any]]

_RAND = re.compile(r"^#rand\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*(,[^)]+)?\)$")


#: longest ``@file`` of case specs read (characters)
MAX_SPEC_FILE_BYTES = 1 << 20


class InputDataError(ValueError):
    """A bad input-data spec, an unreadable data file, or data that does not fit the model."""


class ReadOptions(NamedTuple):
    """How file data is prepared (MegEngine's ``repeat``, ``resize_input``, ``input_transform``)."""

    repeat: int = 1
    resize_input: bool = False
    input_transform: str | None = None
    #: False: data of the model's rank but another shape is taken (MegEngine's
    #: ``--repeat`` makes a larger batch; the model then runs at the data's shape)
    fixed_shape: bool = True


def expand_specs(items: Iterable[str]) -> list[str]:
    """Case specs from ``items``; ``@file`` is replaced by the non-empty lines of ``file``."""
    specs: list[str] = []
    for item in items:
        if not item.startswith("@"):
            specs.append(item)
            continue
        path = item[1:]
        try:
            if not os.path.isfile(path) and os.path.exists(path):
                raise InputDataError(f"cannot read spec file {path!r}: not a regular file")
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_SPEC_FILE_BYTES + 1)
        except OSError as exc:
            raise InputDataError(f"cannot read spec file {path!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InputDataError(f"cannot read spec file {path!r}: not UTF-8 text") from None
        if len(text) > MAX_SPEC_FILE_BYTES:
            raise InputDataError(f"spec file {path!r} is longer than "
                                 f"{MAX_SPEC_FILE_BYTES} characters")
        specs += [line.rstrip() for line in text.splitlines() if line.strip()]
    return specs


def split_case(spec: str, names: Sequence[str]) -> dict[str, str]:
    """Map every input name to its source in case spec ``spec``."""
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    if len(parts) == 1 and parts[0].startswith("#") and len(names) != 1:
        return dict.fromkeys(names, parts[0])
    if len(parts) == 1 and ":" not in parts[0]:
        if len(names) != 1:
            raise InputDataError(f"data spec {spec!r} has no input name but the model has "
                                 f"{len(names)} inputs ({', '.join(names)}): use name:source")
        return {names[0]: parts[0]}
    sources: dict[str, str] = {}
    for part in parts:
        name, sep, source = part.partition(":")
        if not sep or not name or not source:
            raise InputDataError(f"bad data spec {part!r}: expected name:source")
        if name not in names:
            raise InputDataError(f"data spec names unknown input {name!r} "
                                 f"(model inputs: {', '.join(names)})")
        if name in sources:
            raise InputDataError(f"data spec gives input {name!r} twice")
        sources[name] = source
    missing = [n for n in names if n not in sources]
    if missing:
        raise InputDataError(f"data spec {spec!r} gives no data for input(s) {', '.join(missing)}")
    return sources


def parse_rand(source: str, shape: Sequence[int]) -> tuple[float, float, tuple[int, ...]]:
    """``(min, max, dims)`` of a ``#rand(min,max[,dims])`` source for an input of ``shape``."""
    m = _RAND.match(source.replace(" ", ""))
    if m is None:
        raise InputDataError(f"bad random spec {source!r}: expected #rand(min,max[,dims])")
    try:
        low, high = float(m.group(1)), float(m.group(2))
    except ValueError:
        raise InputDataError(f"bad random spec {source!r}: min and max must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(high - low)):
        raise InputDataError(f"bad random spec {source!r}: min and max must be finite and "
                             "less than 1e308 apart")
    dims = list(shape)
    if m.group(3):
        given = m.group(3)[1:].split(",")
        ellipsis = given[-1] == "..."
        try:
            dims = [int(d) for d in (given[:-1] if ellipsis else given)]
        except ValueError:
            raise InputDataError(f"bad random spec {source!r}: dims must be integers") from None
        if ellipsis:
            dims += list(shape)[len(dims):]
    if any(d < 0 for d in dims):
        raise InputDataError(f"bad random spec {source!r}: negative dimension")
    return low, high, tuple(dims)


def rand_data(source: str, shape: Sequence[int]) -> np.ndarray:
    """Uniform random float64 data for a ``#rand(min,max[,dims])`` source.

    Dims needing more than the load memory budget
    (:mod:`mge.serialization.memory_budget`) are refused before anything is allocated.
    """
    low, high, dims = parse_rand(source, shape)
    size = tensor_bytes(dims, np.dtype(np.float64))
    budget = resolve_budget()
    if size > budget:
        raise InputDataError(f"random spec {source!r}: shape {dims} needs {format_size(size)}, "
                             f"more than the memory budget of {format_size(budget)}")
    return np.random.uniform(low, high, dims)


def read_image(path: str) -> np.ndarray | None:
    """``cv2.imread(path, IMREAD_COLOR)``: ``(H, W, 3)`` uint8 BGR, None if not an image."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise InputDataError(f"reading image {path!r} needs Pillow: pip install pillow") from None
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit: keep the high byte
                gray = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)
                return np.repeat(gray[:, :, None], 3, axis=2)
            rgb = np.asarray(img.convert("RGB"))
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as exc:
        raise InputDataError(f"cannot read image {path!r}: {exc}") from None
    except OSError as exc:
        raise InputDataError(f"cannot read image {path!r}: {exc}") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def bgr_to_gray(bgr: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(bgr, COLOR_BGR2GRAY)`` for uint8 (OpenCV's 15-bit fixed point)."""
    weights = np.array([3735, 19235, 9798], np.uint32)  # B, G, R
    return ((bgr.astype(np.uint32) @ weights + (1 << 14)) >> 15).astype(np.uint8)


def image_to_input(image: np.ndarray, shape: Sequence[int], resize: bool, what: str
                   ) -> np.ndarray:
    """An ``(H, W, 3)`` BGR image laid out for an input of ``shape`` (NCHW or NHWC, 3-d or 4-d)."""
    dst = tuple(shape)
    batchless = len(dst) == 3
    if batchless:
        dst = (1, *dst)
    if len(dst) != 4:
        raise InputDataError(f"{what}: an image cannot feed an input of shape {tuple(shape)}")
    nchw = dst[1] in (1, 3)
    if not nchw and dst[3] not in (1, 3):
        raise InputDataError(f"{what}: cannot tell the image layout from input shape "
                             f"{tuple(shape)} (needs 1 or 3 channels, NCHW or NHWC)")
    channels, height, width = (dst[1], dst[2], dst[3]) if nchw else (dst[3], dst[1], dst[2])
    if resize and image.shape[:2] != (height, width):
        op = ResizeForward(imode="LINEAR", format="NHWC", dsize=(height, width))
        image = run_op(op, image[None], backend=get_backend("numpy"))[0]
    if channels == 1:
        image = bgr_to_gray(image)[:, :, None]
    data = image[None]
    if nchw:
        data = data.transpose(0, 3, 1, 2)
    return data[0] if batchless else data


def read_file(path: str, shape: Sequence[int], resize: bool, what: str) -> np.ndarray:
    """Data from an image or ``.npy`` file (images laid out for ``shape``)."""
    if not os.path.isfile(path):
        raise InputDataError(f"{what}: no such file {path!r}")
    image = None if path.lower().endswith(".npy") else read_image(path)
    if image is not None:
        return image_to_input(image, shape, resize, what)
    if resize:
        raise InputDataError(f"{what}: resize_input only applies to images, {path!r} is not one")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        raise InputDataError(f"{what}: {path!r} is neither an image nor a .npy file") from None
    if not isinstance(data, np.ndarray):
        raise InputDataError(f"{what}: {path!r} holds no single array")
    return data


def transform(data: np.ndarray, expression: str, what: str) -> np.ndarray:
    """Evaluate ``expression`` with ``data`` and ``np`` (no builtins) and return an array."""
    try:
        result = eval(expression, {"__builtins__": {}, "np": np, "data": data})  # noqa: S307
    except Exception as exc:  # noqa: BLE001 - any failure of the user's expression
        raise InputDataError(f"{what}: input_transform {expression!r} failed: "
                             f"{type(exc).__name__}: {exc}") from None
    return np.asarray(result)


def read_source(source: str, shape: Sequence[int], dtype: Any, options: ReadOptions,
                what: str) -> np.ndarray:
    """One input's data from ``source``, cast to ``dtype``; its shape must be ``shape``
    (a 0-d input takes shape (1,), as in MegEngine, whose graphs have no 0-d vars)."""
    shape = tuple(shape) or (1,)
    if source.startswith("#"):
        dims = parse_rand(source, shape)[2]
        if not _fits(dims, shape, options):  # checked before anything is allocated
            raise InputDataError(f"{what}: data from {source} has shape {dims}, the model "
                                 f"takes {tuple(shape)}")
        data = rand_data(source, dims)
        origin = source
    else:
        data = read_file(source, shape, options.resize_input, what)
        if options.repeat > 1:
            budget = resolve_budget()
            if data.nbytes * options.repeat > budget:  # checked before allocating
                raise InputDataError(
                    f"{what}: {source!r} repeated {options.repeat} times needs "
                    f"{format_size(data.nbytes * options.repeat)}, more than the memory "
                    f"budget of {format_size(budget)}")
            data = np.repeat(data, options.repeat, axis=0)
        if options.input_transform:
            data = transform(data, options.input_transform, what)
        origin = repr(source)
    if not _fits(tuple(data.shape), shape, options):
        hint = "; resize_input fits images" if not source.startswith("#") else ""
        raise InputDataError(f"{what}: data from {origin} has shape {tuple(data.shape)}, the "
                             f"model takes {tuple(shape)}{hint}")
    return cast_data(data, dtype, f"{what}: data from {origin}")


def _fits(dims: tuple[int, ...], shape: tuple[int, ...], options: ReadOptions) -> bool:
    """Data of shape ``dims`` can feed an input of ``shape``: the same shape, or with
    ``fixed_shape`` off the same rank (MegEngine checks only the rank)."""
    return tuple(dims) == tuple(shape) or (not options.fixed_shape and len(dims) == len(shape))


def cast_data(data: np.ndarray, dtype: Any, what: str) -> np.ndarray:
    """``data`` cast to ``dtype`` (as ``astype``), refusing data that is not numbers
    (strings, complex, objects) and finite values that the dtype cannot hold."""
    dtype = np.dtype(dtype)
    if data.dtype.kind not in "biuf":
        raise InputDataError(f"{what} has dtype {data.dtype}, not numbers {dtype} can hold")
    if data.dtype.kind == "f" and dtype.kind in "iuf" and data.size:
        limits = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
        finite = data[np.isfinite(data)]
        if dtype.kind in "iu" and finite.size != data.size:
            raise InputDataError(f"{what} has NaN or infinite values, which {dtype} cannot "
                                 "hold")
        if finite.size and (finite.max() > limits.max or finite.min() < limits.min):
            raise InputDataError(f"{what} has values from {finite.min():g} to "
                                 f"{finite.max():g}, outside the range of {dtype}")
    return data.astype(dtype, copy=False)


def read_case(spec: str, inputs: InputSpecs, options: ReadOptions | None = None
              ) -> dict[str, np.ndarray]:
    """The arrays of one case spec for ``inputs`` (name -> (shape, dtype))."""
    options = options or ReadOptions()
    if options.repeat < 1:
        raise InputDataError(f"repeat must be >= 1, got {options.repeat}")
    sources = split_case(spec, list(inputs))
    return {name: read_source(sources[name], shape, dtype, options, f"input {name!r}")
            for name, (shape, dtype) in inputs.items()}


__all__ = [
    "InputDataError", "ReadOptions", "bgr_to_gray", "cast_data", "expand_specs", "image_to_input",
    "parse_rand", "rand_data", "read_case", "read_file", "read_image", "read_source", "split_case",
    "transform",
]
