"""Process environment checks of megenginelite: ``config_env`` and ``check_misc``.

``config_env`` (run when ``mge.lite`` is imported, as megenginelite does) makes CUDA load
its modules lazily unless the user chose otherwise; ``check_misc`` refuses an
environment where another ``megenginelite`` distribution would shadow this one.

Example:
    >>> config_env()
    >>> os.environ.get("CUDA_MODULE_LOADING")  # unless the user set another  # doctest: +SKIP
    'LAZY'
    >>> check_misc()
"""

from __future__ import annotations

import importlib.metadata
import os

#: distributions that conflict with an installed MegEngine Lite (MegEngine's check)
_CONFLICTING = ("megbrain", "megenginelite")


def config_env() -> None:
    """Set ``CUDA_MODULE_LOADING`` (default ``LAZY``: CUDA modules load when first used,
    saving device memory) unless ``ALREADY_CONFIG_CUDA_LOADING_MODE`` is set. Call it
    before any CUDA API (torch's included) runs; a value the user set is kept."""
    if not os.getenv("ALREADY_CONFIG_CUDA_LOADING_MODE"):
        os.environ["CUDA_MODULE_LOADING"] = os.getenv("CUDA_MODULE_LOADING", "LAZY")


def check_misc() -> None:
    """Check the Python environment: no ``megbrain`` or separate ``megenginelite``
    distribution is installed beside this one (either would mix two Lite builds).

    Raises:
        AssertionError: such a distribution is installed (as MegEngine raises).
    """
    installed = {(dist.metadata["Name"] or "").lower()
                 for dist in importlib.metadata.distributions()}
    for name in _CONFLICTING:
        if name in installed:
            raise AssertionError(
                f"Your python packages may be corrupted by installing internal&external "
                f"versions at the same time: the '{name}' distribution is installed beside "
                f"mge.lite. To fix it, uninstall {name}.")


__all__ = ["check_misc", "config_env"]
