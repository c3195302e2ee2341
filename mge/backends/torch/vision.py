"""torch kernels: Vision ops: WarpPerspectiveForward, ResizeForward."""

from __future__ import annotations
