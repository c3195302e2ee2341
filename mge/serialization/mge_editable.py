"""Models whose shapes depend on input values (``CondTake``), read for editing.

``load_graph`` refuses such a model (:class:`~.mge_graph.ValueDependentModel`): mge's
graphs have static shapes. ``Network`` edits a graph and writes it back without running
it, so it reads one with each ``CondTake`` whose mask is not a constant kept as a
*dynamic* op, as MegEngine's dynamic shape vars: its outputs hold at most as many
elements as the mask (``size`` is that bound while the graph is in memory; ``.mge`` files
hold no size, and the writer gives such vars no shape). Their ids are returned, so that
the editor shows no shape for them.

No number may come from a bound: an operator that reads a dynamic var is read only when
it is elementwise (``Elemwise``, ``TypeCvt``) and its other inputs are single values or
dynamic too; anything else (a shape read, a reshape, a reduction) is refused as before.

Example:
    >>> result, dynamic = load_editable(open("cond_take.mge", "rb").read())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph.ir import VarNode
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.quantized import ElemwiseMultiType
from ..ops.shape import CondTake
from .fbs import Operator, read_model
from .memory_budget import resolve_budget
from .mge_graph import CompGraphLoadResult, _Reader
from .mge_oprs import ConvertError, ValueDependentError, read_op

#: file operator types that may read a dynamic var (elementwise: no shape-derived param)
ELEMENTWISE_TYPES = tuple(name for cls in (Elemwise, ElemwiseMultiType, TypeCvt)
                          for name in (cls.mge_form.file, *cls.mge_form.legacy))


class _EditReader(_Reader):
    """The reader of :func:`load_editable`: dynamic ``CondTake`` outputs are tracked."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        #: graph var ids whose shapes depend on input values
        self.dynamic: set[int] = set()

    def op(self, fop: Operator) -> list[VarNode]:
        reads = [self.vars[i] for i in fop.inputs if i in self.vars]
        if any(v.id in self.dynamic for v in reads):
            if fop.type not in ELEMENTWISE_TYPES or any(
                    v.id not in self.dynamic and int(np.prod(v.shape)) != 1 for v in reads):
                raise ValueDependentError(
                    f"{fop.type} reads a var whose shape depends on input values (after "
                    "CondTake); only elementwise ops with single-value operands can")
            outs = super().op(fop)
            self.dynamic.update(v.id for v in outs)
            return outs
        return super().op(fop)

    def cond_take(self, fop: Operator) -> list[VarNode]:
        inputs = [self.var(i) for i in fop.inputs]
        if len(inputs) != 2:
            raise ConvertError(f"CondTake needs data and mask inputs, got {len(inputs)}")
        op, inputs, _ = read_op(fop, inputs, self.static_value)
        if not isinstance(op, CondTake):
            raise ConvertError(f"CondTake read as {op.type_name}")
        mask = self.static_value(inputs[1])
        if mask is not None:  # a constant mask: the count is known
            size = int(np.count_nonzero(op.selected(mask)))
            return self.add_folded(dataclasses.replace(op, size=size), inputs, name=fop.name)
        bound = dataclasses.replace(op, size=int(np.prod(inputs[1].shape)))
        outs = self.graph.add_op(bound, inputs, name=fop.name)
        self.dynamic.update(v.id for v in outs)
        return outs


def load_editable(data: bytes, source_name: str = "<bytes>", *,
                  memory_budget: int | str | None = None
                  ) -> tuple[CompGraphLoadResult, set[int]]:
    """Read a model for editing (see the module docstring): the load result, and the ids
    of its vars whose shapes depend on input values."""
    reader = _EditReader(read_model(data, source_name), source_name,
                         resolve_budget(memory_budget))
    return reader.read(), reader.dynamic


__all__ = ["ELEMENTWISE_TYPES", "load_editable"]
