"""numpy kernels for the shape, creation and indexing ops of :mod:`mge.ops.shape`."""

from __future__ import annotations

import numpy as np

from ...core.opdef import TensorInfo, normalize_axis
from ...dtype import is_quantize
from .. import shape as S
from ..registry import NUMPY

_NP_PAD_MODES = {"CONSTANT": "constant", "REPLICATE": "edge", "REFLECT": "reflect"}


@NUMPY.kernel(S.Reshape)
def reshape(op: S.Reshape, x: np.ndarray, *shape: np.ndarray) -> np.ndarray:
    infos = [TensorInfo(x.shape, x.dtype), *(TensorInfo(s.shape, s.dtype, s) for s in shape)]
    return x.reshape(op.infer(infos)[0].shape)


@NUMPY.kernel(S.Broadcast)
def broadcast(op: S.Broadcast, x: np.ndarray, *shape: np.ndarray) -> np.ndarray:
    return np.broadcast_to(x, op.with_sources(shape).shape if shape else op.shape)


@NUMPY.kernel(S.Dimshuffle)
def dimshuffle(op: S.Dimshuffle, x: np.ndarray) -> np.ndarray:
    used = [p for p in op.pattern if p != -1]
    dropped = [i for i in range(x.ndim) if i not in used]
    out_shape = op.infer([TensorInfo(x.shape, x.dtype)])[0].shape
    return np.transpose(x, used + dropped).reshape(out_shape)


@NUMPY.kernel(S.AxisAddRemove)
def axis_add_remove(op: S.AxisAddRemove, x: np.ndarray) -> np.ndarray:
    return x.reshape(op.output_shape(x.shape))


@NUMPY.kernel(S.Concat)
def concat(op: S.Concat, *xs: np.ndarray) -> np.ndarray:
    out = np.concatenate(xs, axis=op.axis)
    # np.concatenate drops a quantized dtype's parameters (infer: the inputs share them)
    return out.view(xs[0].dtype) if is_quantize(xs[0].dtype) else out


@NUMPY.kernel(S.Padding)
def padding(op: S.Padding, x: np.ndarray) -> np.ndarray:
    mode = _NP_PAD_MODES[op.padding_mode]
    kwargs = {"constant_values": x.dtype.type(op.padding_val)} if mode == "constant" else {}
    return np.pad(x, op.pad_width(x.ndim), mode=mode, **kwargs)


@NUMPY.kernel(S.GetVarShape)
def get_var_shape(op: S.GetVarShape, x: np.ndarray) -> np.ndarray:
    return op.infer([TensorInfo(x.shape, x.dtype)])[0].value


@NUMPY.kernel(S.Fill, S.Alloc)
def fill(op: S.Fill) -> np.ndarray:
    return np.full(op.shape, op.value, dtype=op.out_dtype())


@NUMPY.kernel(S.Linspace)
def linspace(op: S.Linspace, *sources: np.ndarray) -> np.ndarray:
    op = op.with_sources(sources) if sources else op
    return np.linspace(op.start, op.stop, op.num, endpoint=op.endpoint, dtype=np.float32)


@NUMPY.kernel(S.Eye)
def eye(op: S.Eye, *shape: np.ndarray) -> np.ndarray:
    op = op.with_sources(shape) if shape else op
    return np.eye(*op.dims, k=op.k, dtype=op.out_dtype())


def _index_tuple(op: S.IndexingOp, shape: tuple[int, ...], indices: tuple) -> tuple:
    """The numpy index for ``op.items``: slices, ints and (for vec items) index arrays."""
    vec = iter(indices)
    order = [normalize_axis(op, item[0], len(shape)) for item in op.items if item[4] is True]
    by_axis = dict(zip(order, vec, strict=True))
    out = []
    for axis, sel in enumerate(op.resolve(shape)):
        if sel.kind == "vec":
            out.append(by_axis[axis].astype(np.intp))
        elif sel.kind == "index":
            out.append(sel.start)
        else:
            out.append(sel.as_slice())
    return tuple(out)


@NUMPY.kernel(S.Subtensor, S.IndexingMultiAxisVec)
def subtensor(op: S.IndexingOp, x: np.ndarray, *indices: np.ndarray) -> np.ndarray:
    return np.asarray(x[_index_tuple(op, x.shape, indices)])


@NUMPY.kernel(S.SetSubtensor, S.IndexingSetMultiAxisVec)
def set_subtensor(op: S.IndexingOp, x: np.ndarray, value: np.ndarray,
                  *indices: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[_index_tuple(op, x.shape, indices)] = value
    return out


@NUMPY.kernel(S.IndexingIncrMultiAxisVec)
def incr_indexing(op: S.IndexingIncrMultiAxisVec, x: np.ndarray, value: np.ndarray,
                  *indices: np.ndarray) -> np.ndarray:
    out = x.copy()
    np.add.at(out, _index_tuple(op, x.shape, indices), value)
    return out


@NUMPY.kernel(S.Diag)
def diag(op: S.Diag, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.diag(x, op.k))


@NUMPY.kernel(S.CondTake)
def cond_take(op: S.CondTake, data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    index = np.flatnonzero(op.selected(mask))
    op.check_count(index.size)
    return data.reshape(-1)[index], index.astype(np.int32)
