"""Op schemas (``OpDef`` subclasses), grouped by kind; importing this registers them all."""

from . import (  # noqa: F401
    conv,
    elemwise,
    nn,
    optim,
    pooling,
    quantized,
    random,
    reduce,
    shape,
    utility,
    vision,
)
from .elemwise import ELEMWISE_MODES, Elemwise, TypeCvt

__all__ = ["ELEMWISE_MODES", "Elemwise", "TypeCvt"]
