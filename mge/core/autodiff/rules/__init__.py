"""Gradient rules filling ``OpDef.grad_rule``, one module per op family.

They sit here until the op families have their homes (issue 12); each then moves
into its family's home beside the op's other facts.
"""

from . import elemwise, nn, shape  # noqa: F401

__all__: list[str] = []
