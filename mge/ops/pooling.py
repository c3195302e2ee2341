"""Pooling ops: PoolingForward, AdaptivePoolingForward."""

from __future__ import annotations
