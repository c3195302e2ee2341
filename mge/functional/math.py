"""Reductions, matmul, sorting: sum/mean/max/min/prod/argmax/argmin/topk/argsort/matmul/norm (MegEngine F.math)."""

from __future__ import annotations

__all__: list[str] = []
