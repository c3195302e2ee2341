"""torch kernels: Shape and data-movement ops: Reshape, Broadcast, Dimshuffle, AxisAddRemove, Concat, Subtensor, Fill, Linspace, ..."""

from __future__ import annotations
