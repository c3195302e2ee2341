"""Vision functions (MegEngine F.vision): warp_perspective, interpolate."""

from __future__ import annotations

__all__: list[str] = []
