"""MegEngine's address of the quantized ``Concat``."""

from .elemwise import Concat

__all__ = ["Concat"]
