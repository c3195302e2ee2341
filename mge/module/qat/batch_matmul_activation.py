"""MegEngine's address of the QAT ``BatchMatMulActivation``."""

from .linear import BatchMatMulActivation

__all__ = ["BatchMatMulActivation"]
