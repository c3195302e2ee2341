"""mge's reverse-mode autodiff core (MegEngine's ``core.autodiff``): the tape, ``Grad``
sessions, rule contexts and ``Function``; ``mge.autodiff.GradManager`` is the public API."""

from . import grad as _grad
from .context import GradContext
from .function import Function
from .grad import Grad, recording

# MegEngine keeps ``Function`` in ``core.autodiff.grad``; mge's lives in ``.function``,
# which imports ``.grad``, so the name joins ``.grad`` here (its package import runs first)
_grad.Function = Function  # type: ignore[attr-defined]

__all__ = ["Function", "Grad", "GradContext", "recording"]
