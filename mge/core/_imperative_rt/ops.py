"""``megengine.core._imperative_rt.ops``: MegEngine's random-number handle functions
(kept in :mod:`mge.ops.random.handles`).

Example:
    >>> h = new_rng_handle("cpu0", 7)
    >>> delete_rng_handle(h)
"""

from ...ops.random.handles import (
    delete_rng_handle,
    get_global_rng_seed,
    get_rng_handle_compnode,
    new_rng_handle,
    set_global_rng_seed,
)

__all__ = ["delete_rng_handle", "get_global_rng_seed", "get_rng_handle_compnode",
           "new_rng_handle", "set_global_rng_seed"]
