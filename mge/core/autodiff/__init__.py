"""mge's reverse-mode autodiff core (MegEngine's ``core.autodiff``): the tape, ``Grad``
sessions, rule contexts and ``Function``; ``mge.autodiff.GradManager`` is the public API."""

from .context import GradContext
from .function import Function
from .grad import Grad, recording

__all__ = ["Function", "Grad", "GradContext", "recording"]
