"""Op schemas (``OpDef`` subclasses), grouped by kind; importing this registers them all."""

from . import conv, elemwise, nn, optim, pooling, random, reduce, shape, utility, vision  # noqa: F401
from .elemwise import ELEMWISE_MODES, Elemwise, TypeCvt

__all__ = ["ELEMWISE_MODES", "Elemwise", "TypeCvt"]
