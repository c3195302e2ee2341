"""The op vocabulary: ``OpDef`` subclasses registered by MegEngine operator type name.

Every computation in mge is an ``OpDef``: a frozen dataclass whose fields are the
MegEngine param fields (same names, same defaults, enums as their MegEngine member
names), plus an ``infer`` rule giving output shapes and dtypes from input shapes and
dtypes. Eager execution runs a backend kernel for it, tracing records it, the ``.mge``
writer serializes it, and the runtime replays it.

An op class is the home of every backend-independent fact about its op; consumers ask
the op instead of keeping tables keyed by type names:

===================  =====================================  ===========================
fact                 where                                  asked by
===================  =====================================  ===========================
shapes and dtypes    ``infer``                              apply, graphs, passes
kernels              ``kernels[backend]``, ``preparers``    backends, plans
``.mge`` form        ``mge_form`` (:class:`MgeForm`)        ``.mge`` reader and writer
memory behaviour     ``memory`` / ``output_memory``         plan liveness
batch-axis rule      ``with_batch``                         plan specialization
ONNX export          ``onnx_rule``, ``batch_rule``          the ONNX exporter
float16 policy       ``in_float16``, ``float32_inputs``     ``float16`` passes
no-op identities     ``is_noop``                            ``remove_noop`` pass
run-to-run values    ``random``                             folding, static values
gradient rule        ``grad_rule``                          ``mge.core.autodiff`` tape
===================  =====================================  ===========================

``memory`` and ``mge_form`` have no default: :func:`register_op` refuses an op class
that does not declare them, so a new op cannot silently degrade a consumer.

Example:
    >>> from mge.ops import Elemwise
    >>> op = Elemwise(mode="ADD")
    >>> op.infer([TensorInfo((2, 3), np.dtype("float32")), TensorInfo((3,), np.dtype("float32"))])
    [TensorInfo(shape=(2, 3), dtype=dtype('float32'), value=None)]
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

REGISTRY: dict[str, type[OpDef]] = {}
#: ``kernel(op, *arrays) -> array | tuple``: one backend's implementation of an op
Kernel = Callable[..., Any]


class OpError(ValueError, RuntimeError):
    """Invalid inputs or params for an op; the message names the op and the shapes.

    A ``ValueError``, and a ``RuntimeError`` as MegEngine's own op errors are (code that
    catches ``RuntimeError`` around an op, as MegEngine's tests do, catches it too)."""


class TensorInfo(NamedTuple):
    """What ``infer`` knows about a tensor: its shape, dtype and, for constants, its value.

    Two infos are equal only when their dtypes are equal including quantization
    parameters (numpy's dtype ``==`` and hash ignore them: ``qint8(0.1) == np.int8``),
    so infos key caches of prepared kernels as they are. The hash stays the tuple's
    (equal infos hash alike; quantized dtypes differing only in scale merely share a
    bucket).

    Example:
        >>> from mge.dtype import qint8
        >>> TensorInfo((2,), qint8(0.5)) == TensorInfo((2,), qint8(0.25))
        False
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    value: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, tuple):
            return NotImplemented
        if not tuple.__eq__(self, other):
            return False
        if not isinstance(other, TensorInfo):
            return True
        mine = getattr(self.dtype, "metadata", None)
        theirs = getattr(other.dtype, "metadata", None)
        return mine is theirs or mine == theirs

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


class Memory(enum.Enum):
    """How an op's outputs share memory with its inputs (what plan liveness needs)."""

    #: new buffers, in every backend (the kernel may be given dead inputs to write into)
    FRESH = "fresh"
    #: a view covering input 0's buffer exactly once (writing through it is safe)
    WHOLE_VIEW = "whole view"
    #: a view of input 0 that may repeat elements (no memory of its own)
    VIEW = "view"
    #: may return an input or a view of one, depending on the backend
    MAY_ALIAS = "may alias"


@dataclasses.dataclass(frozen=True)
class MgeForm:
    """How an op is written to and read from ``.mge`` files.

    Attributes:
        file: serializer name MegEngine writes (and reads) for it.
        params: param tables in file order (fields are matched by name).
        outputs: ``(start, stop)`` of the op's outputs the file lists (None: all); an op
            whose listed outputs depend on its params overrides ``OpDef.mge_outputs``.
        static: params MegEngine passes as trailing static input vars, in order, with
            their kind: ``"shape"`` (int vector), ``"pair"`` (2 ints), ``"int"`` (a
            scalar), ``"like"`` (a var whose spatial shape is the value).
        legacy: serializer names of older versions that load like ``file``.
        reads: False for an op mge writes as ``file`` but reads back as ``file``'s own
            op (a use of it mge's static graphs name apart: a slice to a count known
            only while running).
    """

    file: str
    params: tuple[str, ...] = ()
    outputs: tuple[int, int | None] | None = None
    static: tuple[tuple[str, str], ...] = ()
    legacy: tuple[str, ...] = ()
    reads: bool = True


@dataclasses.dataclass(frozen=True)
class NoMgeForm:
    """An op that ``.mge`` files do not hold as an operator, and why."""

    reason: str


@dataclasses.dataclass(frozen=True)
class OpDef:
    """Base class of all ops. Subclasses are frozen dataclasses of MegEngine params.

    Class attributes:
        type_name: MegEngine operator type name (``ConvolutionForward``, ``Elemwise``...).
        version: op version, stored in serialized graphs.
        nr_inputs: accepted input counts (``None``: any number).
        memory: how the outputs share memory with the inputs (required).
        mge_form: its ``.mge`` operator (:class:`MgeForm`), or :class:`NoMgeForm` with
            the reason it has none (required).
        float32_inputs: inputs that stay float32 when a graph runs in float16.
        grad_rule: ``rule(op, ctx) -> input gradients`` (``mge/ops/<family>/grad.py``);
            ``None``: differentiating the op raises, naming it.
        onnx_rule: ``rule(ctx, node, inputs) -> outputs``, its ONNX export (``None``: it
            has none); ``mge.ops.registry.onnx_rule`` fills it.
        batch_rule: ``rule(node, dims) -> dims``, how it carries a dynamic batch axis
            (``None``: it blocks one); ``mge.ops.registry.batch_rule`` fills it.
        kernels: backend name -> kernel (``Backend.kernel`` fills it; per class).
        preparers: backend name -> preparation (see ``mge.backends.Backend.prepare``).
        random: its outputs differ from run to run (random draws): never folded into
            constants nor computed when a graph is loaded.
        value_params: params that follow input values (``CondTake``'s ``size``): ``.mge``
            files do not hold them, and the calls of a trace may differ in them.
        checks_values: its kernel fails on input values (``AssertEqual``): at
            ``mge.config.async_level`` >= 1 the failure is reported when a result is read
            (MegEngine's ``AsyncError``, :mod:`mge.core.async_error`).
        format_rule: which ``Tensor.format`` its outputs get when an input has one
            (MegEngine's format transformation): ``"default"`` (none), ``"first"`` (the
            first input's), ``"any"`` (the inputs' one), ``"same_ndim"`` (the first
            input's where the output keeps its ndim).
    """

    type_name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    nr_inputs: ClassVar[tuple[int, ...] | None] = None
    memory: ClassVar[Memory]
    mge_form: ClassVar[MgeForm | NoMgeForm]
    float32_inputs: ClassVar[tuple[int, ...]] = ()
    grad_rule: ClassVar[Callable[..., Any] | None] = None
    onnx_rule: ClassVar[Callable[..., Any] | None] = None
    batch_rule: ClassVar[Callable[..., Any] | None] = None
    kernels: ClassVar[dict[str, Kernel]] = {}
    preparers: ClassVar[dict[str, Callable[..., Any]]] = {}
    format_rule: ClassVar[str] = "default"
    random: ClassVar[bool] = False
    value_params: ClassVar[tuple[str, ...]] = ()
    checks_values: ClassVar[bool] = False

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        """Output infos from input infos; raises ``OpError`` on invalid input."""
        raise NotImplementedError(f"{self.type_name}.infer")

    def check_inputs(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        """Validate the input count, then run ``infer``."""
        if self.nr_inputs is not None and len(inputs) not in self.nr_inputs:
            want = " or ".join(map(str, self.nr_inputs))
            self.fail(f"expects {want} inputs, got {len(inputs)}", inputs)
        return self.infer(inputs)

    def params(self) -> dict[str, Any]:
        """The op's params as a plain dict (MegEngine field names)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def output_memory(self, outputs: Sequence[TensorInfo]) -> Memory:
        """How these outputs share memory with the inputs (``memory`` unless it depends
        on the dtypes)."""
        return self.memory

    def with_batch(self, old: Sequence[TensorInfo], new: Sequence[TensorInfo]) -> OpDef:
        """This op for inputs ``new`` whose batch (axis 0) may differ from ``old``'s: ops
        with a static shape param that follows the batch rewrite it; others are kept."""
        return self

    def in_float16(self, inputs: Sequence[TensorInfo], compute_f32: bool) -> OpDef:
        """This op rebuilt on float16 ``inputs`` (``compute_f32``: keep float32 compute
        where the op has a param for it)."""
        return self

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        """True when the op returns its only input unchanged for these infos."""
        return False

    def unwritable(self) -> str | None:
        """Why this op instance has no ``.mge`` form although its class has one (an
        in-memory-only param value), or ``None``."""
        return None

    def mge_outputs(self, nr_inputs: int) -> tuple[int, int | None] | None:
        """``(start, stop)`` of this op's outputs a ``.mge`` file lists for it on
        ``nr_inputs`` inputs (None: all): MegEngine lists only the outputs it does not mark
        volatile, which may depend on the params (``mge_form.outputs`` unless overridden)."""
        form = self.mge_form
        return form.outputs if isinstance(form, MgeForm) else None

    def mge_shared_inputs(self, nr_inputs: int) -> tuple[int, ...]:
        """Which of ``nr_inputs`` inputs MegEngine needs as shared tensors (state the op
        updates in place): a ``.mge`` writer stores a constant there as
        ``SharedDeviceTensor`` and refuses any other var."""
        return ()

    def fail(self, message: str, inputs: Sequence[TensorInfo] = ()) -> None:
        """Raise an ``OpError`` naming this op, its params and the input shapes."""
        shapes = ", ".join(str(i) for i in inputs)
        where = f" (inputs: {shapes})" if inputs else ""
        raise OpError(f"{self}: {message}{where}")

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.type_name}({args})"


#: facts every op class must declare (no default could be right for every op)
REQUIRED_FACTS = ("memory", "mge_form")


def register_op(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: make ``cls`` a frozen dataclass and register it by ``type_name``.

    Raises ``TypeError`` when the class lacks a type name or a required fact.
    """
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in cls.__dict__:
        cls = dataclasses.dataclass(frozen=True)(cls)
    name = cls.type_name
    if not name:
        raise TypeError(f"{cls.__name__} has no type_name")
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise TypeError(f"op {name} registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
    missing = [fact for fact in REQUIRED_FACTS if not hasattr(cls, fact)]
    if missing:
        raise TypeError(f"op {name} does not declare {', '.join(missing)} (see OpDef)")
    cls.kernels, cls.preparers = {}, {}
    cls.onnx_rule = cls.batch_rule = None
    REGISTRY[name] = cls
    return cls


def get_op_class(type_name: str) -> type[OpDef]:
    """Look up a registered op class; raises ``KeyError`` naming the op if unknown."""
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown operator type {type_name!r}") from None


def check_enum(op: OpDef, field: str, allowed: Sequence[str]) -> None:
    """Reject an enum-valued param that is not one of MegEngine's member names."""
    value = getattr(op, field)
    if value not in allowed:
        op.fail(f"unknown {field} {value!r}; expected one of {', '.join(allowed)}")


def broadcast_shapes(op: OpDef, inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
    """numpy broadcasting of the inputs' shapes; ``OpError`` if they do not broadcast."""
    ndim = max((len(i.shape) for i in inputs), default=0)
    out = [1] * ndim
    for info in inputs:
        for k, d in enumerate(info.shape):
            axis = ndim - len(info.shape) + k
            cur = out[axis]
            if cur == d or d == 1:
                continue
            if cur == 1:
                out[axis] = d
            else:
                op.fail("shapes do not broadcast", inputs)
    return tuple(out)


def normalize_axis(op: OpDef, axis: int, ndim: int, inputs: Sequence[TensorInfo] = ()) -> int:
    """Turn a possibly negative axis into 0..ndim-1, ``OpError`` if out of range."""
    if not -ndim <= axis < ndim:
        op.fail(f"axis {axis} out of range for a {ndim}-d tensor", inputs)
    return axis % ndim
