"""What ``mge serve`` serves: one ``.mge`` file, or a model repository folder.

A repository holds one folder per model, one numbered folder per version, and an optional
``config.json`` and ``labels.txt`` beside the versions (the layout Triton uses)::

    models/
      mobilenet_v2/
        config.json          # optional, every key optional
        labels.txt           # optional: one class name per line
        1/model.mge
        2/model.mge

``config.json`` keys: ``max_batch_size`` (0 turns batching off; dimension 0 of every input
and output is the batch), ``max_queue_delay_ms``, ``max_queue_size``, ``labels`` (a list, or
a file name in the model folder), ``classifier_output`` (the output the image endpoint and
top-k read; default the first), ``image`` (preprocessing for the image endpoint on float NCHW
inputs: ``{"mean": [...], "std": [...]}``, applied as ``(pixel - mean) / std`` per RGB
channel). Command-line options fill the keys a config leaves out.

Example:
    >>> specs = discover("models", ServeDefaults())                    # doctest: +SKIP
    >>> [(s.name, s.version) for s in specs]                           # doctest: +SKIP
    [('mobilenet_v2', '1'), ('mobilenet_v2', '2')]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL_FILE = "model.mge"
CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"


class RepositoryError(ValueError):
    """The model file or repository folder cannot be served (the message says why)."""


@dataclasses.dataclass(frozen=True)
class ServeDefaults:
    """Settings for every model, from the command line; a model's config.json overrides."""

    max_batch_size: int = 8
    max_queue_delay_ms: float = 2.0
    max_queue_size: int = 64
    instances: int = 1
    threads: int = 1
    backend: str = "auto"


@dataclasses.dataclass(frozen=True)
class ImagePreprocess:
    """Per-channel (RGB) normalisation for feeding an image to a float NCHW input."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model version to load: where its file is and how to serve it."""

    name: str
    version: str
    path: Path
    max_batch_size: int
    max_queue_delay_ms: float
    max_queue_size: int
    instances: int
    threads: int
    backend: str
    labels: tuple[str, ...] | None = None
    classifier_output: str | None = None
    image: ImagePreprocess | None = None


_CONFIG_KEYS = {"max_batch_size", "max_queue_delay_ms", "max_queue_size", "labels",
                "classifier_output", "image", "instances", "threads", "backend"}


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise RepositoryError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise RepositoryError(f"{path}: expected a JSON object")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise RepositoryError(f"{path}: unknown keys {unknown}; known: {sorted(_CONFIG_KEYS)}")
    return config


def _labels(folder: Path, config: dict[str, Any]) -> tuple[str, ...] | None:
    value = config.get("labels", LABELS_FILE if (folder / LABELS_FILE).is_file() else None)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str):
        path = folder / value
        if not path.is_file():
            raise RepositoryError(f"{folder / CONFIG_FILE}: labels file {path} does not exist")
        return tuple(path.read_text().splitlines())
    raise RepositoryError(f"{folder / CONFIG_FILE}: 'labels' must be a list of strings or "
                          f"a file name, got {value!r}")


def _image(folder: Path, value: Any) -> ImagePreprocess | None:
    if value is None:
        return None
    try:
        mean = tuple(float(v) for v in value["mean"])
        std = tuple(float(v) for v in value["std"])
    except (TypeError, KeyError, ValueError):
        raise RepositoryError(f"{folder / CONFIG_FILE}: 'image' must be "
                              f'{{"mean": [r, g, b], "std": [r, g, b]}}, got {value!r}') from None
    if len(mean) != 3 or len(std) != 3 or 0.0 in std:
        raise RepositoryError(f"{folder / CONFIG_FILE}: 'image' needs 3 means and 3 non-zero "
                              f"stds, got {value!r}")
    return ImagePreprocess(mean, std)  # type: ignore[arg-type]


def _spec(name: str, version: str, path: Path, folder: Path | None,
          defaults: ServeDefaults) -> ModelSpec:
    config = _read_config(folder) if folder is not None else {}
    settings = {f.name: config.get(f.name, getattr(defaults, f.name))
                for f in dataclasses.fields(ServeDefaults)}
    for key in ("max_batch_size", "max_queue_size", "instances", "threads"):
        value = settings[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or \
                (key != "max_batch_size" and value < 1):
            raise RepositoryError(f"model {name!r}: {key} must be a "
                                  f"{'non-negative' if key == 'max_batch_size' else 'positive'}"
                                  f" integer, got {value!r}")
    return ModelSpec(
        name=name, version=version, path=path, **settings,
        labels=_labels(folder, config) if folder is not None else None,
        classifier_output=config.get("classifier_output"),
        image=_image(folder, config.get("image")) if folder is not None else None)


def discover(source: str | Path, defaults: ServeDefaults,
             name: str | None = None) -> list[ModelSpec]:
    """The model versions of a ``.mge`` file (named ``name`` or after the file, version "1")
    or of a repository folder."""
    source = Path(source)
    if source.is_file():
        return [_spec(name or source.stem, "1", source, None, defaults)]
    if not source.is_dir():
        raise RepositoryError(f"{source}: no such model file or repository folder")
    specs: list[ModelSpec] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        versions = sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()),
                          key=lambda p: int(p.name))
        found = [v for v in versions if (v / MODEL_FILE).is_file()]
        if not found:
            continue
        specs.extend(_spec(folder.name, v.name, v / MODEL_FILE, folder, defaults)
                     for v in found)
    if not specs:
        raise RepositoryError(f"{source}: no models found; expected "
                              f"<name>/<version>/{MODEL_FILE} inside")
    return specs


def latest(specs: Sequence[ModelSpec]) -> dict[str, str]:
    """Model name -> its highest version."""
    best: dict[str, str] = {}
    for spec in specs:
        if spec.name not in best or int(spec.version) > int(best[spec.name]):
            best[spec.name] = spec.version
    return best


__all__ = ["ImagePreprocess", "ModelSpec", "RepositoryError", "ServeDefaults", "discover",
           "latest"]
