"""MegEngine's ``GraphOptimizationConfig``: per-pass switches for ``trace(graph_opt_config=)``.

mge accepts it for compatibility: its traces run eagerly (no JIT fusion), so the switches
change nothing.

Example:
    >>> config = GraphOptimizationConfig()
    >>> config.jit_fuse_dimshuffle = True
    >>> config
    GraphOptimizationConfig { jit_fuse_dimshuffle = ON, jit_fuse_reduce = UNSET }
"""

from __future__ import annotations

_STATES = {None: "UNSET", False: "OFF", True: "ON"}


class GraphOptimizationConfig:
    """JIT fusion switches: ``None`` (let ``opt_level`` decide), ``False`` or ``True``."""

    def __init__(self) -> None:
        self.jit_fuse_dimshuffle: bool | None = None
        self.jit_fuse_reduce: bool | None = None

    def __repr__(self) -> str:
        return (f"GraphOptimizationConfig {{ jit_fuse_dimshuffle = "
                f"{_STATES[self.jit_fuse_dimshuffle]}, jit_fuse_reduce = "
                f"{_STATES[self.jit_fuse_reduce]} }}")


__all__ = ["GraphOptimizationConfig"]
