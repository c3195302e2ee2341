"""``mge.autodiff`` (MegEngine's ``megengine.autodiff``): ``GradManager`` and ``Function``.

Example:
    >>> import mge
    >>> from mge.autodiff import GradManager
    >>> w = mge.Parameter([2.0])
    >>> with GradManager().attach(w) as gm:
    ...     gm.backward((w * w).sum())
    >>> w.grad.numpy()
    array([4.], dtype=float32)
"""

from ..core.autodiff import Function
from .grad_manager import GradManager, GradManagerGroup

__all__ = ["Function", "GradManager", "GradManagerGroup"]
