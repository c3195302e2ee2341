"""Symbolic ONNX values: write ONNX graphs as numpy-like expressions.

An :class:`OnnxBuilder` collects nodes and initializers; a :class:`Sym` is one ONNX value
with its static shape and numpy dtype. Arithmetic, comparisons, ``&``/``|``/``%``/``>>``
and indexing on Syms emit ONNX nodes with numpy 2's semantics (promotion with weak Python
scalars, Python-style ``%`` and floor ``>>`` on integers, basic and advanced indexing), so
numpy algorithms written against a small array interface (the vision kernels'
``ArrayOps``) turn into ONNX graphs as they are.

Where onnxruntime's CPU provider has no kernel for a dtype (arithmetic on 8- and 16-bit
integers, comparisons on bools), values are widened to int32 and narrowed back, which
wraps exactly like numpy.

Example:
    >>> b = OnnxBuilder(opset=13)
    >>> x = b.input("x", (2, 3), np.float32)
    >>> y = ((x + 1) * 2)[:, 1]
    >>> y.shape, y.dtype, [n.op_type for n in b.nodes]
    ((2,), dtype('float32'), ['Add', 'Mul', 'Slice', 'Squeeze'])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .arrays import c_contiguous

#: the op names this module's strings speak: ONNX's, not mge's registered op types
#: (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"

SMALL_INTS = tuple(np.dtype(t) for t in ("int8", "uint8", "int16", "uint16"))
BOOL = np.dtype("bool")
INT32, INT64 = np.dtype("int32"), np.dtype("int64")
#: ops onnxruntime's CPU provider lacks for 8/16-bit integers (and bools)
_WIDEN_ARITH = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Where", "Abs",
                "Neg", "Sign", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Equal")
_COMPARE = {"Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Equal"}
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
#: constants up to this many elements are shared between identical uses
_SHARE_LIMIT = 256
#: initializers larger than this are external when the builder collects external weights
EXTERNAL_MIN_BYTES = 1024


def onnx_dtype(dtype: Any) -> int:
    """The ONNX ``TensorProto`` element type of a numpy dtype."""
    from onnx.helper import np_dtype_to_tensor_dtype

    return np_dtype_to_tensor_dtype(np.dtype(dtype))


class OnnxBuilder:
    """Nodes and initializers of an ONNX graph being built, with unique names.

    ``scope`` prefixes the names of the nodes emitted while it is set (the mge op
    being converted).
    """

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self.scope = ""
        self._names: set[str] = set()
        self._node_names: set[str] = set()
        self._shared: dict[tuple, Sym] = {}
        self._ids = itertools.count()
        #: when set (by ``export_graph(external_weights=...)``): initializers over
        #: :data:`EXTERNAL_MIN_BYTES` are declared without data and their arrays put here
        self.external: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ names
    def unique(self, hint: str) -> str:
        """``hint`` if no value has that name yet, else ``hint_1``, ``hint_2``...; reserved.

        ONNX names are UTF-8: bytes a ``.mge`` name holds that are not (read as lone
        surrogates) are written as backslash escapes."""
        hint = hint.encode("utf-8", "backslashreplace").decode("utf-8")
        name = hint
        while name in self._names:
            name = f"{hint}_{next(self._ids)}"
        self._names.add(name)
        return name

    def taken(self, name: str) -> bool:
        return name in self._names

    def release(self, name: str) -> None:
        self._names.discard(name)

    def _node_name(self, op_type: str) -> str:
        base = f"{self.scope}/{op_type}" if self.scope else op_type
        name = base
        while name in self._node_names:
            name = f"{base}_{next(self._ids)}"
        self._node_names.add(name)
        return name

    # ------------------------------------------------------------------ values
    def input(self, name: str, shape: Sequence[int], dtype: Any) -> Sym:
        """A graph input (the name is reserved as given)."""
        if self.taken(name):
            raise ValueError(f"duplicate ONNX value name {name!r}")
        self._names.add(name)
        return Sym(self, name, shape, dtype)

    def const(self, value: Any, dtype: Any = None, name: str | None = None) -> Sym:
        """An initializer holding ``value`` (small ones are shared between uses)."""

        arr = np.asarray(value, dtype=dtype)
        key = None
        if name is None and arr.size <= _SHARE_LIMIT:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            hit = self._shared.get(key)
            if hit is not None:
                return hit
        vname = self.unique(name or "const")
        self._initializer(vname, arr)
        sym = Sym(self, vname, arr.shape, arr.dtype)
        if key is not None:
            self._shared[key] = sym
        return sym

    def lazy_const(self, value: np.ndarray, name: str) -> Sym:
        """A constant whose initializer is written only once a node reads it."""
        sym = Sym(self, self.unique(name), value.shape, value.dtype)
        sym.pending = value
        return sym

    def derived_const(self, source: Sym, value: Any) -> Sym:
        """A constant computed from the constant ``source`` (a reshaped weight...); it takes
        ``source``'s name while ``source`` itself is not written."""
        if source.pending is None:
            return self.const(value, name=source.name)
        name = source.name
        source.name = self.unique(name)
        self.release(name)
        return self.const(value, name=name)

    def _materialize(self, sym: Sym) -> None:
        value, sym.pending = sym.pending, None
        self._initializer(sym.name, value)

    def _initializer(self, name: str, value: np.ndarray) -> None:
        """Write initializer ``name``: its data inside the model, or (large ones, with
        :attr:`external` set) a declaration whose data the caller passes as the array."""
        from onnx import TensorProto, numpy_helper

        value = np.asarray(value)
        if self.external is None or value.nbytes <= EXTERNAL_MIN_BYTES or \
                value.dtype.kind not in "fiub":
            self.initializers[name] = numpy_helper.from_array(np.array(value, order="C"), name)
            return
        tensor = TensorProto(name=name, dims=value.shape, data_type=onnx_dtype(value.dtype),
                             data_location=TensorProto.EXTERNAL)
        for key, text in (("location", "mge-external-weights"), ("offset", "0"),
                          ("length", str(value.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, text
        self.initializers[name] = tensor
        self.external[name] = c_contiguous(value)

    def ints(self, values: Sequence[int]) -> Sym:
        """An int64 vector constant (shapes, axes, pads)."""
        return self.const(np.asarray(list(values), np.int64).reshape(-1))

    def emit(self, op_type: str, inputs: Sequence[Sym | None], shape: Sequence[int],
             dtype: Any, outputs: int = 1, shapes: Sequence[Sequence[int]] | None = None,
             dtypes: Sequence[Any] | None = None, **attrs: Any) -> Any:
        """Add a node; returns its output Sym (or a list when ``outputs > 1``).

        ``None`` inputs are ONNX's omitted optional inputs. ``shapes``/``dtypes`` give
        per-output types when they differ from ``shape``/``dtype``.
        """
        from .protos import make_node

        for i in inputs:
            if i is not None and i.pending is not None:
                self._materialize(i)
        names = [self.unique(f"{op_type}_out") for _ in range(outputs)]
        node = make_node(op_type, ["" if i is None else i.name for i in inputs], names,
                         self._node_name(op_type), attrs)
        self.nodes.append(node)
        shapes = shapes or [shape] * outputs
        dtypes = dtypes or [dtype] * outputs
        syms = [Sym(self, n, s, d) for n, s, d in zip(names, shapes, dtypes, strict=True)]
        return syms if outputs > 1 else syms[0]

    # ------------------------------------------------------------------ helpers
    def reduce(self, op_type: str, x: Sym, axes: Sequence[int] | None, keepdims: bool,
               dtype: Any = None) -> Sym:
        """``Reduce*`` over ``axes`` (``None``: all), with axes as an attribute or an
        input as the opset wants."""
        ndim = x.ndim
        axes_n = list(range(ndim)) if axes is None else sorted(a % max(ndim, 1) for a in axes)
        shape = [1 if k in axes_n else d for k, d in enumerate(x.shape)]
        if not keepdims:
            shape = [d for k, d in enumerate(x.shape) if k not in axes_n]
        attrs: dict[str, Any] = {"keepdims": int(keepdims)}
        inputs = [x]
        if axes is not None:
            if op_type == "ReduceSum" or self.opset >= 18:
                inputs.append(self.ints(axes_n))
            else:
                attrs["axes"] = axes_n
        return self.emit(op_type, inputs, shape, dtype or x.dtype, **attrs)


    def concat(self, parts: Sequence[Sym], axis: int) -> Sym:
        """``np.concatenate`` of Syms of one dtype."""
        shape = list(parts[0].shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        return self.emit("Concat", list(parts), shape, parts[0].dtype, axis=axis)

    def filled(self, shape: Sequence[int], value: object, dtype: Any) -> Sym:
        """A tensor of ``shape`` filled with ``value`` (``ConstantOfShape``)."""
        from onnx import helper

        tensor = helper.make_tensor("value", onnx_dtype(dtype), [1],
                                    [np.array(value).astype(dtype).item()])
        return self.emit("ConstantOfShape", [self.ints(shape)], shape, dtype, value=tensor)

    def batch_range(self, value: np.ndarray) -> Sym:
        """``value`` (an ``arange`` over a batch) as an index that keeps the batch free."""
        return BatchRange.make(self, value)

    @staticmethod
    def is_sym(value: Any) -> bool:
        """Whether ``value`` is a graph value (else a numpy value or Python scalar)."""
        return isinstance(value, Sym)

def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, Sym) else np.shape(value)


class Sym:
    """One ONNX value: ``name``, static ``shape`` and numpy ``dtype``; numpy-like operators
    emit nodes into its builder."""

    __array_ufunc__ = None  # numpy operands defer to the reflected operators below

    def __init__(self, builder: OnnxBuilder, name: str, shape: Sequence[int], dtype: Any):
        self.builder = builder
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.pending: np.ndarray | None = None
        #: set by the rule that made this value: ``self + other`` as one node, or ``None``
        #: (a ``Gemm`` takes a bias as its ``C``)
        self.fuse_add: Callable[[Sym], Sym | None] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<Sym {self.name}: {self.dtype}{list(self.shape)}>"

    # ------------------------------------------------------------------ basics
    def op(self, op_type: str, *others: Sym | None, shape: Sequence[int] | None = None,
           dtype: Any = None, **attrs: Any) -> Sym:
        """Emit ``op_type(self, *others)`` with one output (default: self's type)."""
        return self.builder.emit(op_type, [self, *others], self.shape if shape is None
                                 else shape, self.dtype if dtype is None else dtype, **attrs)

    def cast(self, dtype: Any) -> Sym:
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        return self.op("Cast", dtype=dtype, to=onnx_dtype(dtype))

    def astype(self, dtype: Any) -> Sym:
        return self.cast(dtype)

    def reshape(self, shape: Sequence[int]) -> Sym:
        shape = tuple(int(d) for d in shape)
        if shape == self.shape:
            return self
        out = np.empty(self.shape, np.bool_).reshape(shape).shape  # resolves a -1
        return self.op("Reshape", self.builder.ints(shape), shape=out)

    def transpose(self, perm: Sequence[int]) -> Sym:
        perm = [int(p) for p in perm]
        if perm == list(range(self.ndim)):
            return self
        return self.op("Transpose", shape=[self.shape[p] for p in perm], perm=perm)

    def unsqueeze(self, axes: Sequence[int]) -> Sym:
        """Insert size-1 axes at ``axes`` (positions in the result)."""
        if not axes:
            return self
        ndim = self.ndim + len(axes)
        axes = sorted(a % ndim for a in axes)
        shape = list(self.shape)
        for a in axes:
            shape.insert(a, 1)
        return self.op("Unsqueeze", self.builder.ints(axes), shape=shape)

    def squeeze(self, axes: Sequence[int]) -> Sym:
        """Remove the size-1 axes ``axes``."""
        if not axes:
            return self
        axes = sorted(a % self.ndim for a in axes)
        shape = [d for k, d in enumerate(self.shape) if k not in axes]
        return self.op("Squeeze", self.builder.ints(axes), shape=shape)

    def expand(self, shape: Sequence[int]) -> Sym:
        shape = tuple(int(d) for d in shape)
        if shape == self.shape:
            return self
        return self.op("Expand", self.builder.ints(shape), shape=shape)

    def unary(self, op_type: str, **attrs: Any) -> Sym:
        """An elementwise one-input op, widened for small integer types."""
        if op_type in _WIDEN_ARITH and self.dtype in SMALL_INTS:
            return self.cast(INT32).op(op_type, **attrs).cast(self.dtype)
        return self.op(op_type, **attrs)

    # ------------------------------------------------------------------ binary
    def _coerce(self, other: Any) -> tuple[Sym, Sym]:
        """Both operands as Syms of numpy 2's result dtype (Python scalars are weak)."""
        if isinstance(other, Sym):
            dtype = np.result_type(self.dtype, other.dtype)
        elif isinstance(other, (bool, int, float)):
            dtype = np.result_type(self.dtype, other)
        else:
            other = np.asarray(other)
            dtype = np.result_type(self.dtype, other.dtype)
        if not isinstance(other, Sym):
            other = self.builder.const(other, dtype)
        return self.cast(dtype), other.cast(dtype)

    def binary(self, op_type: str, other: Any, reflected: bool = False, **attrs: Any) -> Sym:
        """``op_type(self, other)`` (``other`` first when ``reflected``), broadcasting."""
        a, b = self._coerce(other)
        if reflected:
            a, b = b, a
        shape = np.broadcast_shapes(a.shape, b.shape)
        dtype = a.dtype
        out_dtype = BOOL if op_type in _COMPARE else dtype
        if op_type in _WIDEN_ARITH and (dtype in SMALL_INTS or (
                dtype == BOOL and op_type in _COMPARE - {"Equal"})):
            wide = self.builder.emit(op_type, [a.cast(INT32), b.cast(INT32)], shape,
                                     BOOL if op_type in _COMPARE else INT32, **attrs)
            return wide.cast(out_dtype)
        if op_type == "Add":
            fused = (a.fuse_add and a.fuse_add(b)) or (b.fuse_add and b.fuse_add(a))
            if fused is not None:
                return fused
        return self.builder.emit(op_type, [a, b], shape, out_dtype, **attrs)

    def __add__(self, o: Any) -> Sym:
        return self.binary("Add", o)

    def __radd__(self, o: Any) -> Sym:
        return self.binary("Add", o, True)

    def __sub__(self, o: Any) -> Sym:
        return self.binary("Sub", o)

    def __rsub__(self, o: Any) -> Sym:
        return self.binary("Sub", o, True)

    def __mul__(self, o: Any) -> Sym:
        return self.binary("Mul", o)

    def __rmul__(self, o: Any) -> Sym:
        return self.binary("Mul", o, True)

    def __truediv__(self, o: Any) -> Sym:
        return self._float().binary("Div", o)

    def __rtruediv__(self, o: Any) -> Sym:
        return self._float().binary("Div", o, True)

    def _float(self) -> Sym:
        return self if self.dtype.kind == "f" else self.cast(np.float64)

    def __neg__(self) -> Sym:
        return self.unary("Neg")

    def __lt__(self, o: Any) -> Sym:
        return self.binary("Less", o)

    def __le__(self, o: Any) -> Sym:
        return self.binary("LessOrEqual", o)

    def __gt__(self, o: Any) -> Sym:
        return self.binary("Greater", o)

    def __ge__(self, o: Any) -> Sym:
        return self.binary("GreaterOrEqual", o)

    def __eq__(self, o: Any) -> Sym:  # type: ignore[override]
        return self.binary("Equal", o)

    def __ne__(self, o: Any) -> Sym:  # type: ignore[override]
        return self.binary("Equal", o).op("Not")

    __hash__ = object.__hash__

    def __and__(self, o: Any) -> Sym:
        if self.dtype == BOOL:
            return self.binary("And", o)
        mask = int(o)
        if mask < 0 or mask & (mask + 1):
            raise NotImplementedError(f"Sym & {o!r}: only masks 2**k - 1 are supported")
        return self % (mask + 1)

    def __or__(self, o: Any) -> Sym:
        if self.dtype != BOOL:
            raise NotImplementedError("Sym | x: only on bools")
        return self.binary("Or", o)

    def __mod__(self, o: Any) -> Sym:
        """numpy's ``%``: the result takes the divisor's sign."""
        a, b = self._coerce(o)
        if a.dtype.kind == "f":
            return a - (a / b).floor() * b
        return a.binary("Mod", b, fmod=0)

    def __rshift__(self, bits: int) -> Sym:
        """Arithmetic shift right by a constant: floor division by ``2**bits``."""
        step = 1 << int(bits)
        return (self - self % step).binary("Div", step)

    # ------------------------------------------------------------------ numpy functions
    def select(self, x: Any, y: Any) -> Sym:
        """numpy's ``where(self, x, y)`` (x, y: Syms or scalars, promoted like numpy)."""
        b = self.builder
        xs = x if isinstance(x, Sym) else None
        ys = y if isinstance(y, Sym) else None
        if xs is None and ys is None:
            dtype = np.result_type(x, y)
            xs, ys = b.const(x, dtype), b.const(y, dtype)
        elif xs is None:
            ys, xs = ys._coerce(x)
        elif ys is None:
            xs, ys = xs._coerce(y)
        else:
            xs, ys = xs._coerce(ys)
        shape = np.broadcast_shapes(self.shape, xs.shape, ys.shape)
        if xs.dtype in SMALL_INTS:
            out = b.emit("Where", [self, xs.cast(INT32), ys.cast(INT32)], shape, INT32)
            return out.cast(xs.dtype)
        return b.emit("Where", [self, xs, ys], shape, xs.dtype)

    def floor(self) -> Sym:
        return self.op("Floor")

    def maximum(self, y: Any) -> Sym:
        return self.binary("Max", y)

    def minimum(self, y: Any) -> Sym:
        return self.binary("Min", y)

    def clip(self, lo: Any, hi: Any) -> Sym:
        """numpy's ``clip`` with scalar bounds (Python scalars keep this dtype)."""
        return self.maximum(lo).minimum(hi)

    def isnan(self) -> Sym:
        return self.op("IsNaN", dtype=BOOL)

    def isfinite(self) -> Sym:
        if self.dtype.kind != "f":
            return self.builder.const(True).expand(self.shape)
        return (self.isnan() | self.op("IsInf", dtype=BOOL)).op("Not")

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key: Any) -> Sym:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            used = sum(1 for k in key if k is not None and k is not Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - used) + key[at + 1:]
        if any(isinstance(k, (Sym, np.ndarray)) for k in key):
            return self._advanced(key)
        return self._basic(key)

    def _basic(self, key: tuple) -> Sym:
        """Slices, integer indices and ``None`` (new axes)."""
        shape = list(self.shape)
        starts, ends, axes, steps, picks, new_axes = [], [], [], [], [], []
        axis = out_pos = 0
        for k in key:
            if k is None:
                new_axes.append(out_pos)
                out_pos += 1
                continue
            dim = self.shape[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(dim)
                out_pos += 1
            else:
                start, stop, step = int(k) % dim, int(k) % dim + 1, 1
                picks.append(axis)
            if (start, stop, step) != (0, dim, 1):
                shape[axis] = len(range(start, stop, step))
                starts.append(start)
                ends.append(stop if stop >= 0 else INT64_MIN)
                axes.append(axis)
                steps.append(step)
            axis += 1
        out = self
        if axes:
            b = self.builder
            out = self.op("Slice", b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps),
                          shape=shape)
        return out.squeeze(picks).unsqueeze(new_axes)

    def _advanced(self, key: tuple) -> Sym:
        """Index arrays on the leading axes (``x[i, j]``: GatherND) or on one axis with
        full slices elsewhere (``x[:, i]``: Gather)."""
        b = self.builder
        idx = [b.const(k) if isinstance(k, np.ndarray) else k for k in key]
        arrays = [k for k in idx if isinstance(k, Sym)]
        if len(arrays) == 1:
            axis = next(i for i, k in enumerate(idx) if isinstance(k, Sym))
            if all(k == slice(None) for i, k in enumerate(idx) if i != axis):
                ind = arrays[0]
                shape = self.shape[:axis] + ind.shape + self.shape[axis + 1:]
                return self.op("Gather", ind.cast(INT64), shape=shape, axis=axis)
        if len(arrays) != len(idx):
            return self._advanced_mixed(idx)
        common = np.broadcast_shapes(*(a.shape for a in arrays))
        if len(arrays) > 1 and getattr(arrays[0], "batch_range", False):
            # x[arange(N)[:, None...], i, j]: gather per batch item, N stays free
            parts = [a.cast(INT64).expand(common).unsqueeze([-1]) for a in arrays[1:]]
            stacked = b.emit("Concat", parts, (*common, len(parts)), INT64, axis=-1)
            return self.op("GatherND", stacked, shape=common + self.shape[len(arrays):],
                           batch_dims=1)
        parts = [a.cast(INT64).expand(common).unsqueeze([-1]) for a in arrays]
        stacked = b.emit("Concat", parts, (*common, len(parts)), INT64, axis=-1)
        return self.op("GatherND", stacked, shape=common + self.shape[len(parts):])

    def _advanced_mixed(self, idx: list) -> Sym:
        """Index arrays on some axes, full slices on the others, as numpy: the indexed
        axes are moved to the front and gathered; the broadcast index axes stay in front
        unless the indexed axes were adjacent (then they take the first one's place)."""
        picked = [i for i, k in enumerate(idx) if isinstance(k, Sym)]
        if any(k != slice(None) for k in idx if not isinstance(k, Sym)):
            raise NotImplementedError("Sym indexing: index arrays mixed with partial slices")
        rest = [i for i in range(self.ndim) if i not in picked]
        front = self.transpose(picked + rest)
        out = front[tuple(idx[i] for i in picked)]
        n_common = out.ndim - len(rest)
        at = picked[0]
        if picked != list(range(at, at + len(picked))) or at == 0:
            return out
        perm = list(range(n_common, n_common + at))
        perm += list(range(n_common)) + list(range(n_common + at, out.ndim))
        return out.transpose(perm)


class BatchRange(Sym):
    """``arange(N)`` over the batch of a tensor, used as an index: ``x[r, i, j]`` becomes a
    ``GatherND`` with ``batch_dims=1``, so the batch size is not baked into the graph. Its
    values are written only if some node reads them."""

    batch_range = True

    @classmethod
    def make(cls, builder: OnnxBuilder, value: np.ndarray) -> BatchRange:
        sym = builder.lazy_const(value, "batch_range")
        sym.__class__ = cls
        return sym  # type: ignore[return-value]

    def __getitem__(self, key: Any) -> Sym:
        if self.pending is None:
            return super().__getitem__(key)
        return BatchRange.make(self.builder, self.pending[key])


__all__ = ["BatchRange", "OnnxBuilder", "Sym", "onnx_dtype"]
