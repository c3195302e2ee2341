"""Plain-data description of an FBS_V2 ``.mge`` model file.

The classes mirror what the file holds, nothing more:

* :class:`ModelFile` - the whole file: operators in topological order, the per-variable
  records (``vars``, MegEngine's "middle tensors"), the graph outputs, metadata.
* :class:`Operator` - one operator: registered type name, type id and version, input
  and output variable ids, params, and the tensors it carries (constants, weights,
  graph-input descriptions).
* Variable ids are positions in the file's variable list: operator ``k``'s outputs get
  the next free ids, in order, so every id names exactly one operator output.

How MegEngine 1.13 lays out common operators (what a graph mapper needs):

* Graph input: ``Host2DeviceCopy`` (param ``Host2DeviceCopy``), one tensor holding the
  input's name, shape and dtype but no data.
* Constant: ``ImmutableTensor``, no param, one anonymous tensor with the value; its
  variable (``vars[id].name``) carries the readable name (``fc.weight``, ``const<6>[12]``).
  Shared parameters: ``SharedDeviceTensor`` (v1) or ``MultipleDeviceTensorHolder`` (v2,
  one output per tensor), tensors named only with ``keep_param_name``.
* ``ReshapeV1(x, shape)``: ``shape`` is an int32 variable; ``OptionalAxisV1.axis`` is the
  axis to infer (7 = none), whose entry in ``shape`` is a placeholder (-1).
* ``Subtensor(x, *index)`` (also ``SetSubtensor(x, value, *index)`` ...): the
  ``IndexDescMaskDump`` items say, per indexed axis, which of begin/end/step/idx are
  given; the index variables follow the data input(s) in item order, begin, end,
  step, idx.  ``idx`` removes the axis.
* Convolution-like v2 operators carry their param plus an ``ExecutionPolicy``.
* Some operators have outputs MegEngine does not store (workspaces); they take no id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .dtypes import DType

#: MegEngine version number written by MegEngine 1.13.0 ((major*1000+minor)*100+patch)
MGE_VERSION_1_13_0 = 101300
#: FBS_V2 model version written by MegEngine 1.13 (``CURRENT_VERSION``)
MODEL_VERSION = 2


class Param(NamedTuple):
    """One operator param: its table name (see :mod:`.params`) and field values.

    Enum fields hold member names (``{"mode": "CROSS_CORRELATION"}``); the ``FullDType``
    param holds ``{"dtype": DType(...)}``.
    """

    type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class TensorFormat:
    """Tensor layout format: ``DEFAULT``, ``IMAGE2D_PACK4`` or ``LOWBITS_ALIGNED``."""

    kind: str = "DEFAULT"
    align_axis: int = 0  # IMAGE2D_PACK4
    size_nbits: int = 0  # LOWBITS_ALIGNED
    align_size_in_bits: int = 0  # LOWBITS_ALIGNED


FORMAT_KINDS: tuple[str, ...] = ("DEFAULT", "IMAGE2D_PACK4", "LOWBITS_ALIGNED")


@dataclass(eq=False)
class TensorValue:
    """A tensor stored inside an operator (``Operator.tensors``).

    ``data`` is None when the file holds only the description (a graph input of
    ``Host2DeviceCopy``).  Otherwise it is a numpy array of ``dtype.numpy`` with
    ``shape``; for packed low-bit dtypes and non-default formats it is the raw bytes
    as a 1-D uint8 array.  ``name`` is the input name for ``Host2DeviceCopy``, the
    parameter name for shared tensors dumped with ``keep_param_name``, else None.
    """

    shape: tuple[int, ...]
    dtype: DType | None
    data: np.ndarray | None = None
    name: str | None = None
    comp_node: str = "xpux:0"
    format: TensorFormat | None = field(default_factory=TensorFormat)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorValue):
            return NotImplemented
        same_data = (self.data is None and other.data is None) or (
            self.data is not None
            and other.data is not None
            and self.data.dtype == other.data.dtype
            and self.data.shape == other.data.shape
            and self.data.tobytes() == other.data.tobytes()
        )
        return same_data and (self.shape, self.dtype, self.name, self.comp_node, self.format) == (
            other.shape,
            other.dtype,
            other.name,
            other.comp_node,
            other.format,
        )


@dataclass
class VarInfo:
    """What the file records about a variable (a "middle tensor").

    MegEngine always stores the name (it is the variable's name after loading) and the
    shape when known at dump time; dtype, comp node and format only for variables whose
    value was computed at dump time.
    """

    name: str = ""
    shape: tuple[int, ...] | None = None
    dtype: DType | None = None
    comp_node: str | None = None
    format: TensorFormat | None = None


@dataclass
class Operator:
    """One operator of the graph.

    ``type`` is the name MegEngine registered the operator's serializer under, e.g.
    ``"ConvBiasForward"``, ``"PoolingV1"``, ``"ReshapeV1"``, ``"ImmutableTensor"``.
    ``type_id``/``version`` are what the file stores; leave them None when building a
    model and the writer fills them in from :mod:`.oprs`.  ``comp_nodes`` is the
    operator's explicit comp node list (None when not set), each entry a logical
    locator like ``"xpux"`` or ``"cpu0:0"`` (or None for an empty entry).
    """

    type: str
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tensors: list[TensorValue] = field(default_factory=list)
    name: str | None = None
    type_id: int | None = None
    version: int | None = None
    comp_nodes: list[str | None] | None = None
    output_dtype: DType | None = None
    priority: int = 0
    blobs: list[bytes] = field(default_factory=list)

    def param(self, type_name: str) -> dict[str, Any]:
        """Fields of the first param of type ``type_name``; KeyError if there is none."""
        for p in self.params:
            if p.type == type_name:
                return p.fields
        raise KeyError(f"operator {self.type} has no {type_name} param")


class OutputVar(NamedTuple):
    """A graph output: variable id in this file and the var id in the dumped graph."""

    var_id: int
    original_id: int


class OutputAlias(NamedTuple):
    """Renames the output whose ``original_id`` matches (``alias_name_map`` of a dump)."""

    original_id: int
    name: str


@dataclass
class Metadata:
    """Model metadata as MegEngine stores it.

    ``user_info`` is opaque bytes (MegEngine's Python ``dump`` puts a *pickle* there;
    it is never unpickled here).  ``optimize_options`` is the bit set of
    ``GraphOptimizeOptions.serialize()``; see :meth:`optimize_flags`.
    """

    is_valid: bool = True
    graph_modified: bool = False
    optimize_options: int = 0
    user_info: bytes | None = None

    @property
    def optimized_for_inference(self) -> bool:
        """MegEngine's reading: optimize_for_inference ran iff options are non-zero."""
        return self.optimize_options != 0

    def optimize_flags(self) -> dict[str, Any]:
        """Decode ``optimize_options`` into ``dump`` keyword names (``enable_*``)."""
        bits = self.optimize_options
        flags: dict[str, Any] = {
            name: True for i, name in enumerate(_OPTIMIZE_BITS) if bits >> i & 1
        }
        layout = bits >> 32
        if layout:
            flags["layout_transform"] = (
                _LAYOUTS[layout] if layout < len(_LAYOUTS) else f"UNKNOWN({layout})"
            )
        return flags


_OPTIMIZE_BITS = (
    "enable_io16xc32", "enable_ioc16", "enable_fuse_conv_bias_nonlinearity",
    "enable_fuse_conv_bias_with_z", "weight_preprocess", "enable_fuse_preprocess",
    "enable_fuse_grain",
)  # fmt: skip
_LAYOUTS = ("DEFAULT", "NCHW4", "NHWCD4", "NCHW88", "NCHW44", "NCHW44_DOT", "NCHW32", "CHWN4",
            "NCHW64")  # fmt: skip


@dataclass
class ModelFile:
    """Everything an FBS_V2 model file holds.

    ``vars`` is None when the file has no per-variable records (dumped with
    ``keep_var_name=0``); otherwise it has one entry per variable id.
    ``nr_shared_tensor`` None means "compute on write" (number of tensors held by
    shared-tensor operators).
    """

    operators: list[Operator]
    outputs: list[OutputVar]
    vars: list[VarInfo] | None = None
    metadata: Metadata | None = None
    output_aliases: list[OutputAlias] = field(default_factory=list)
    mge_version: int = MGE_VERSION_1_13_0
    model_version: int = MODEL_VERSION
    nr_shared_tensor: int | None = None

    @property
    def num_vars(self) -> int:
        """Number of variables (ids are ``0 .. num_vars - 1``)."""
        return sum(len(op.outputs) for op in self.operators)

    def var_name(self, var_id: int) -> str | None:
        """Stored name of a variable, None if the file keeps no names."""
        return None if self.vars is None else self.vars[var_id].name

    def resolved_outputs(self) -> list[tuple[int, str | None]]:
        """(var id, name) of the output list MegEngine returns after loading.

        Without aliases: every output, named by its variable.  With aliases MegEngine
        replaces the list by one entry per alias, in alias order, named by the alias
        (outputs without an alias then drop out of the list; its name->var map keeps
        both the variables' names and the aliases).
        """
        if not self.output_aliases:
            return [(o.var_id, self.var_name(o.var_id)) for o in self.outputs]
        by_original = {o.original_id: o.var_id for o in self.outputs}
        return [(by_original[a.original_id], a.name) for a in self.output_aliases]
