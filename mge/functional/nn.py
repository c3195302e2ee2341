"""Neural-network functions (MegEngine F.nn): conv2d, linear, pooling, batch_norm, softmax, ..."""

from __future__ import annotations

__all__: list[str] = []
