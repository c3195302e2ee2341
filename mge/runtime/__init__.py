"""Running static graphs: the executor (and, later, compiled plans)."""

from .executor import Executor, GraphInference

__all__ = ["Executor", "GraphInference"]
