"""The core: one op vocabulary (``OpDef`` registry) and one interception point (``apply``)."""

from ._imperative_rt.core2 import get_option, set_option
from .apply import apply
from .opdef import REGISTRY, OpDef, OpError, TensorInfo, get_op_class, register_op

__all__ = ["REGISTRY", "OpDef", "OpError", "TensorInfo", "apply", "get_op_class", "get_option",
           "register_op", "set_option"]
