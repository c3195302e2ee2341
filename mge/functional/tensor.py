"""Tensor creation and shape functions (MegEngine F.tensor): reshape, transpose, concat, stack, split, ..."""

from __future__ import annotations

__all__: list[str] = []
