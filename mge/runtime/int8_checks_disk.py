"""The int8 lowering's code-by-code checks kept on disk across processes:
``$MGE_HOME/runtime/int8_requant_checks.json``.

:mod:`.int8_requant` runs each one-node requantizing form (``QLinearAdd``,
``QLinearLeakyRelu``) on all 256 input codes per scale pair in an onnxruntime session
(about 0.1 s of every load of a MobileNetV2-like dump). What onnxruntime returned depends
only on the form, the two float32 scales, onnxruntime's version and the check's own
layout, so the codes are kept in a small JSON file keyed by all of these; the verdict
(equal to MegEngine's table or not) is still computed each time from the codes. A missing,
unreadable or corrupt file counts as empty; writes merge with what other processes wrote
and replace the file atomically; a failed write only costs the next load its check.

``MGE_INT8_CHECK_CACHE`` overrides the path; set to ``""`` or ``"0"`` it turns the file off.

Example:
    >>> import os
    >>> os.environ["MGE_INT8_CHECK_CACHE"] = "/tmp/mge-int8-checks.json"
    >>> cache_path()
    '/tmp/mge-int8-checks.json'
    >>> del os.environ["MGE_INT8_CHECK_CACHE"]
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from ..utils.atomic_file import write_file

LOGGER = logging.getLogger("mge.runtime")
#: the environment variable naming the file ("" or "0": no file)
ENV_PATH = "MGE_INT8_CHECK_CACHE"
#: bump when the check's inputs or the stored layout change
LAYOUT = 1
#: a case: ``(form, float32 scale in, float32 scale out)``
Case = tuple[str, float, float]


def cache_path() -> str | None:
    """The file the checks are kept in (``None``: turned off)."""
    from ..hub.hub import overridable_cache_path

    return overridable_cache_path(ENV_PATH, "runtime", "int8_requant_checks.json")


def _key(case: Case) -> str:
    form, sx, sy = case
    return f"{form}:{float(sx).hex()}:{float(sy).hex()}"


def _runtime() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}; layout {LAYOUT}"


def _read(path: str) -> dict[str, str]:
    """The stored entries for this onnxruntime (empty if missing, unreadable, corrupt)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        entries = data[_runtime()] if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if not isinstance(exc, KeyError):
            LOGGER.debug("int8 checks: ignoring unreadable %s (%s)", path, exc)
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str)}


def _decode(text: str) -> np.ndarray | None:
    """256 int16 codes from their hex form (``None`` where malformed)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return np.frombuffer(raw, "<i2").astype(np.int16) if len(raw) == 512 else None


def load(cases: list[Case]) -> dict[Case, np.ndarray]:
    """The stored onnxruntime codes of those ``cases`` the file has."""
    path = cache_path()
    if path is None or not cases:
        return {}
    entries = _read(path)
    found = {}
    for case in cases:
        codes = _decode(entries.get(_key(case), ""))
        if codes is not None:
            found[case] = codes
    return found


def store(results: dict[Case, np.ndarray]) -> None:
    """Add ``results`` (case -> 256 int16 codes) to the file, merged with its entries for
    this onnxruntime (other versions' entries are dropped)."""
    path = cache_path()
    if path is None or not results:
        return
    entries = _read(path)
    entries.update({_key(c): np.asarray(v, "<i2").tobytes().hex() for c, v in results.items()})
    data = json.dumps({_runtime(): dict(sorted(entries.items()))}, indent=0)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_file(path, data.encode(), durable=False)
    except OSError as exc:
        LOGGER.debug("int8 checks: cannot write %s (%s)", path, exc)


__all__ = ["ENV_PATH", "cache_path", "load", "store"]
