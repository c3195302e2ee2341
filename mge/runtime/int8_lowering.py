"""The state of the int8 ONNX lowerings (:mod:`.int8_onnx`, :mod:`.int8_qdq`): the nodes
and constants written so far, each var's readers, how a var's codes travel, and the walk
that hands each op to its rule (a float op the lowering has no form of its own for: to
its op home's ONNX export rule, through a :class:`~.int8_float.FloatBridge`).

Example:
    >>> low = _Lowering(); low.node("Relu", ["x"])                # doctest: +SKIP
    'Relu_1'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..dtype import dtype_name, get_scale, is_quantize
from ..graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode, VarNode
from .int8_requant import SHIFT

if TYPE_CHECKING:
    from .int8_float import FloatBridge

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"


class Int8Unsupported(ValueError):
    """A graph op the int8 ONNX lowering has no form for."""


def describe(node: OpNode) -> str:
    """``"<op type> on <input dtypes>"``, how the lowerings' errors name an op."""
    return f"{node.op.type_name} on {', '.join(dtype_name(v.dtype) for v in node.inputs)}"


class _Lowering:
    def __init__(self) -> None:
        from onnx import helper

        self.h = helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0
        #: how a var's codes travel where not as :func:`shifted` says (see :meth:`offset`)
        self.offsets: dict[int, int | None] = {}
        #: the nodes reading each var (by id); the graph's outputs (ids)
        self.users: dict[int, list[OpNode]] = {}
        self.outputs: set[int] = set()
        #: whether a relu'd conv output may travel at zero point 0 (``"add"`` form)
        self.relu_add = True
        #: a var not emitted (the first of a spatial mean pair) -> the name and var it reduces
        self.deferred: dict[int, tuple[str, VarNode]] = {}
        #: a dequantized var not emitted (read by a spatial mean pair) -> its codes' name, var
        self.codes: dict[int, tuple[str, VarNode]] = {}
        #: a var not emitted -> the var it equals (an ``ADD`` folded into a ``Gemm``)
        self.aliases: dict[int, int] = {}
        #: var id -> its batch dim ``(axis, mult)`` for a dynamic batch (:mod:`.int8_batch`)
        self.batch: dict[int, tuple[int, int] | None] = {}

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.array(value, order="C"), name))  # 0-d stays
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        out = out or self.fresh(op)
        self.nodes.append(self.h.make_node(op, inputs, [out], **attrs))
        return out

    def qparams(self, dtype: np.dtype, offset: int | None = None) -> tuple[str, str]:
        """Constants: the float32 scale and the zero point (of the storage type; of
        uint8, plus ``offset``, for codes that travel as uint8 ``q + offset``)."""
        info = dtype.metadata["mgb_dtype"]
        zp = np.array(info.get("zero_point", 0), dtype.newbyteorder("=").str)
        if offset is not None:
            zp = np.array(int(zp) + offset, np.uint8)
        return self.const(np.array(get_scale(dtype), np.float32), "s"), self.const(zp, "zp")

    def sole_user(self, var: VarNode) -> OpNode | None:
        """The one node reading ``var`` where nothing else does (nor the graph's outputs)."""
        users = self.users.get(var.id, [])
        return users[0] if len(users) == 1 and var.id not in self.outputs else None

    def offset(self, var: VarNode) -> int | None:
        """How ``var``'s codes travel: ``None`` as its own dtype, ``k`` as uint8 codes
        ``q + k`` (:data:`SHIFT` for a :func:`shifted` var; 0 for a relu'd conv output
        that only a requantizing ``QRELU`` reads, see :mod:`.int8_requant`)."""
        if var.id in self.offsets:
            return self.offsets[var.id]
        return SHIFT if shifted(var) else None

    def storage(self, var: VarNode) -> tuple[np.dtype, int]:
        """The ONNX element type of ``var``'s codes and what is added to them."""
        offset = self.offset(var)
        return (np.dtype(var.dtype.str), 0) if offset is None else (np.dtype(np.uint8), offset)

    def vq(self, var: VarNode) -> tuple[str, str]:
        """``var``'s scale and zero point as it travels."""
        return self.qparams(var.dtype, self.offset(var))

    def dq(self, name: str, var: VarNode) -> str:
        return self.node("DequantizeLinear", [name, *self.vq(var)])

    def q(self, name: str, var: VarNode, out: str | None = None) -> str:
        return self.node("QuantizeLinear", [name, *self.vq(var)], out)

    def index(self, graph: Graph) -> None:
        """Record each var's readers and the graph's outputs (for :meth:`sole_user`)."""
        self.outputs = {var.id for var in graph.outputs}
        for node in graph.ops():
            for var in node.inputs:
                self.users.setdefault(var.id, []).append(node)

    def lower_ops(self, graph: Graph, rules: dict[type, Any], names: dict[int, str],
                  const: Any, bridge: FloatBridge) -> None:
        """Name every op's output in ``names`` (which holds the inputs' names): a
        constant as ``const(self, var, value)`` gives it, a float op that ``bridge``
        takes by its op home's export rule (:mod:`.int8_float`), another op by its rule
        in ``rules``, ``rule(self, node, input names, output name)``.

        Raises:
            Int8Unsupported: an op without a rule, or with several outputs.
        """
        for node in graph.ops():
            if isinstance(node.op, Host2DeviceCopy):
                continue
            out = node.outputs[0]
            if out.id in self.aliases:
                names[out.id] = names[self.aliases[out.id]]
                continue
            if isinstance(node.op, ConstOp):
                names[out.id] = const(self, out, node.op.value)
                continue
            if bridge.takes(node):
                names.update(zip((v.id for v in node.outputs), bridge.lower(node, names)))
                continue
            rule = rules.get(type(node.op))
            if rule is None or len(node.outputs) != 1:
                raise Int8Unsupported(describe(node))
            names[out.id] = self.fresh("v")
            rule(self, node, [names[v.id] for v in node.inputs], names[out.id])


def shifted(var: VarNode) -> bool:
    """Whether ``var``'s codes travel shifted to uint8: a non-constant ``QuantizedS8``
    (uint8 codes ``q + SHIFT``, zero point 128: the same reals, and the u8 x s8 products
    x86's VNNI units compute, onnxruntime's fastest int8 path)."""
    return (not var.is_const and is_quantize(var.dtype)
            and var.dtype.metadata["mgb_dtype"]["name"] == "QuantizedS8")


def check_one_grid(node: OpNode) -> None:
    """A ``Concat``'s inputs and output all float, or all of one quantized dtype.

    Raises:
        Int8Unsupported: they are not (MegEngine's ``Concat`` needs one dtype; its
            ``M.quantized.Concat`` requantizes each input with a ``TypeCvt`` first).
    """
    dtypes = {dtype_name(v.dtype) for v in (*node.inputs, *node.outputs)}
    if len(dtypes) > 1 and any(is_quantize(v.dtype) for v in node.inputs):
        raise Int8Unsupported(f"Concat of several dtypes ({', '.join(sorted(dtypes))})")


__all__ = ["Int8Unsupported", "check_one_grid", "describe", "shifted"]
