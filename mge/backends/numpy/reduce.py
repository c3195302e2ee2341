"""numpy kernels: Reductions and sorting: Reduce, Argmax, Argmin, TopK, ArgsortForward."""

from __future__ import annotations
