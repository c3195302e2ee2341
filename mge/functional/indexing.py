"""Tensor indexing (__getitem__/__setitem__) lowered to Subtensor-family ops."""

from __future__ import annotations

__all__: list[str] = []
