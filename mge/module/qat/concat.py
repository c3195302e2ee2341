"""MegEngine's address of the QAT ``Concat`` (``megengine.module.qat.concat``)."""

from .elemwise import Concat

__all__ = ["Concat"]
