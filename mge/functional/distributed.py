"""``megengine.functional.distributed``: MegEngine's address of the collectives of
:mod:`mge.distributed.functional` (a re-export facade; nothing in mge imports it, and
``mge.functional`` does not import it, so that importing mge.functional stays below
mge.distributed).

Example:
    >>> import mge, mge.functional.distributed as FD
    >>> FD.all_reduce_sum(mge.tensor([1.0])).numpy()
    array([1.], dtype=float32)
"""

from ..distributed.functional import (
    all_gather,
    all_reduce_max,
    all_reduce_min,
    all_reduce_sum,
    all_to_all,
    broadcast,
    gather,
    reduce_scatter_sum,
    reduce_sum,
    remote_recv,
    remote_send,
    scatter,
)

__all__ = ["all_gather", "all_reduce_max", "all_reduce_min", "all_reduce_sum", "all_to_all",
           "broadcast", "gather", "reduce_scatter_sum", "reduce_sum", "remote_recv",
           "remote_send", "scatter"]
