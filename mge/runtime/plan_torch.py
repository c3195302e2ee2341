"""The torch plan backend: PyTorch kernels on CPU or CUDA, bound once per op.

* Constants become torch tensors once (in the compute dtype, on the device); filters
  are reshaped (and flipped, for ``CONVOLUTION`` mode) once, and laid out
  channels-last when the plan is; per-channel biases become vectors, so
  ``ConvBias`` is one ``conv2d`` with bias followed by an in-place nonlinearity.
* ``MatrixMul`` by a constant is ``linear``; global average pooling is
  ``adaptive_avg_pool2d``; constant padding keeps channels-last; elementwise ops write
  into dead inputs (``add_``, ``relu_``).
* Runs under ``torch.inference_mode()`` with the plan's thread count (torch's
  process-wide setting is left at it: switching costs milliseconds).
* ``compute_dtype`` (``"bfloat16"``/``"float16"``) holds and computes every float tensor
  in that type; inputs are cast on entry and outputs back to their dtypes.

Everything else calls the eager torch backend's kernel.

Example:
    >>> plan = Plan(graph, PlanOptions(backend="torch", compute_dtype="bfloat16",
    ...                                channels_last=True))  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as tF

from ..backends.torch import torch_dtype
from ..backends.torch.elemwise import ELEMWISE
from ..graph.ir import VarNode
from .plan import (
    INFERENCE_PASSES,
    BindSite,
    BoundOp,
    PlanBackend,
    PlanOptions,
    register_plan_backend,
)

_COMPUTE = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_INPLACE_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "IDENTITY": lambda x: x, "RELU": torch.relu_, "SIGMOID": torch.sigmoid_,
    "H_SWISH": lambda x: tF.hardswish(x, inplace=True),
    "RELU6": lambda x: x.clamp_(0, 6), "TANH": torch.tanh_,
}
#: binary elementwise modes as (in-place method name, nonlinearity after it)
_INPLACE_BINARY: dict[str, tuple[str, str]] = {
    "ADD": ("add_", "IDENTITY"), "MUL": ("mul_", "IDENTITY"), "SUB": ("sub_", "IDENTITY"),
    "FUSE_ADD_RELU": ("add_", "RELU"), "FUSE_ADD_SIGMOID": ("add_", "SIGMOID"),
    "FUSE_ADD_H_SWISH": ("add_", "H_SWISH"), "FUSE_ADD_TANH": ("add_", "TANH"),
}
_SYMMETRIC = ("ADD", "MUL", "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_H_SWISH",
              "FUSE_ADD_TANH")


class _Session(AbstractContextManager):
    """``inference_mode`` and the plan's thread count, around a run.

    torch's thread count is process-wide and changing it is expensive (a few ms on the
    next parallel region), so it is set when it differs and left so.
    """

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        self.mode = torch.inference_mode()

    def __enter__(self) -> None:
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        self.mode.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.mode.__exit__(*exc)


@register_plan_backend
class TorchPlanBackend(PlanBackend):
    """PyTorch kernels with prepared weights; CPU, or CUDA when torch sees a GPU."""

    name = "torch"
    priority = 20
    devices = ("cpu", "gpu")
    eager = "torch"
    passes = INFERENCE_PASSES

    def __init__(self, options: PlanOptions, weights: Any) -> None:
        super().__init__(options, weights)
        gpu = options.device_kind == "gpu"
        self.device = torch.device("cuda", options.device_index) if gpu else torch.device("cpu")
        self.compute = _COMPUTE[options.compute_dtype] if options.compute_dtype else None
        self.channels_last = options.channels_last if options.channels_last is not None \
            else not gpu or self.compute in (torch.float16, torch.bfloat16)
        self.key = (self.name, str(self.device), str(self.compute), self.channels_last)
        #: oneDNN fused convolutions with packed filters (CPU, channels-last)
        self.mkldnn = not gpu and self.channels_last and torch.backends.mkldnn.is_available()

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in (None, *_COMPUTE):
            return f"unknown compute dtype {options.compute_dtype!r}; choose one of " \
                   f"{', '.join(_COMPUTE)}"
        if options.device_kind == "gpu" and not torch.cuda.is_available():
            return f"device {options.device!r}: torch sees no CUDA GPU"
        return super().unavailable(options)

    # ------------------------------------------------------------ conversions
    def dtype_of(self, dtype: np.dtype) -> torch.dtype:
        """The torch dtype holding a tensor of numpy ``dtype`` in this plan."""
        if self.compute is not None and dtype.kind == "f":
            return self.compute
        return torch_dtype(dtype)

    def _to_device(self, t: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
        t = t.to(self.device, self.dtype_of(dtype))
        if self.channels_last and t.ndim == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def asarray(self, value: np.ndarray) -> torch.Tensor:
        return self._to_device(self.kernels.asarray(np.array(value)), value.dtype)

    def feed(self, value: np.ndarray, var: VarNode) -> torch.Tensor:
        if value.dtype == np.uint16:
            return self._to_device(self.kernels.asarray(value), value.dtype)
        if not value.flags.writeable:  # read only to us: torch just warns about it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return self._to_device(torch.from_numpy(value), value.dtype)
        return self._to_device(torch.from_numpy(value), value.dtype)

    def fetch(self, array: Any, var: VarNode) -> np.ndarray:
        want = torch_dtype(var.dtype)
        t = array.to("cpu", want if want != torch.uint16 else array.dtype)
        return np.ascontiguousarray(self.kernels.to_numpy(t), dtype=var.dtype)

    def session(self) -> AbstractContextManager:
        return _Session(self.options.threads)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def bind(self, site: BindSite) -> BoundOp:
        binder = _BINDERS.get(site.node.type)
        bound = binder(self, site) if binder is not None else None
        if bound is not None:
            return bound
        bound = super().bind(site)
        return bound if self.compute is None else self._in_compute_dtype(bound)

    def _in_compute_dtype(self, bound: BoundOp) -> BoundOp:
        """An eager kernel in a plan that holds floats in ``compute``: bfloat16 inputs are
        widened to float32 (the eager kernels know numpy's dtypes only) and float
        results are held in ``compute``."""
        compute, fn = self.compute, bound.fn
        widen = compute == torch.bfloat16

        def hold(t: Any) -> Any:
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != compute:
                return t.to(compute)
            return t

        def run(*xs: Any) -> Any:
            if widen:
                xs = tuple(x.float() if x.dtype == compute else x for x in xs)
            out = fn(*xs)
            return tuple(hold(o) for o in out) if isinstance(out, tuple) else hold(out)

        return BoundOp(run, bound.args)


# ------------------------------------------------------------------ binders
def _conv_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    op = site.node.op
    filt = site.consts[1]
    if op.format != "NCHW" or filt is None:
        return None
    groups = 1 if op.sparse == "DENSE" else filt.shape[0]
    flip = op.mode == "CONVOLUTION"

    def make_filter(value: np.ndarray) -> torch.Tensor:
        w = value.reshape(-1, *value.shape[-3:])
        return backend.asarray(np.ascontiguousarray(w[..., ::-1, ::-1] if flip else w))

    if backend.mkldnn:
        bound = _mkldnn_conv_bind(backend, site, groups, make_filter)
        if bound is not None:
            return bound
    bias_value, extra = site.split_conv_bias()
    act = _INPLACE_UNARY[op.nonlineMode if op.type_name == "ConvBiasForward" else "IDENTITY"]
    weight = backend.prepared(filt, f"conv-filter-{flip}", make_filter)
    bias = None if bias_value is None else backend.prepared(
        bias_value, "vector", lambda v: backend.asarray(v.reshape(-1)))
    stride, pad = (op.stride_h, op.stride_w), (op.pad_h, op.pad_w)
    dilate, wdtype = (op.dilate_h, op.dilate_w), weight.dtype
    conv2d = torch.conv2d

    def run(x: torch.Tensor, *terms: torch.Tensor) -> torch.Tensor:
        if x.dtype != wdtype:
            x = x.to(wdtype)
        y = conv2d(x, weight, bias, stride, pad, dilate, groups)
        for term in terms:
            y.add_(term)
        return act(y)

    return BoundOp(run, (0, *extra))


#: ConvBias nonlinearities that oneDNN fuses as post-ops (attr, scalars). Its relu and
#: hardtanh post-ops are ``max``/``clamp`` that turn NaN into 0: RELU and RELU6 run in
#: place after the convolution instead, so NaN propagates as in numpy.
_MKLDNN_UNARY = {"IDENTITY": ("none", []), "SIGMOID": ("sigmoid", []),
                 "H_SWISH": ("hardswish", [])}


def _mkldnn_conv_bind(backend: TorchPlanBackend, site: BindSite, groups: int,
                      make_filter: Callable[[np.ndarray], torch.Tensor]) -> BoundOp | None:
    """oneDNN's fused convolution with a filter packed once (CPU): bias, residual and
    nonlinearity in one kernel, the residual overwritten in place when it is dead."""
    node, op = site.node, site.node.op
    nonline = op.nonlineMode if op.type_name == "ConvBiasForward" else "IDENTITY"
    bias_value, extra = site.split_conv_bias()
    if len(extra) > 1:
        return None
    pad, stride = [op.pad_h, op.pad_w], [op.stride_h, op.stride_w]
    dilate = [op.dilate_h, op.dilate_w]
    shape = list(node.inputs[0].shape)
    mkldnn = torch.ops.mkldnn

    def pack(value: np.ndarray) -> torch.Tensor:
        return mkldnn._reorder_convolution_weight(make_filter(value), pad, stride, dilate,
                                                  groups, shape)

    try:
        # oneDNN tunes packed filters to the thread count (not much to the batch size)
        weight = backend.prepared(site.consts[1], f"mkldnn-conv-{op.mode}-{pad}-{stride}-"
                                  f"{dilate}-{groups}-{backend.options.threads}", pack)
    except RuntimeError:  # no oneDNN kernel for this dtype on this CPU
        return None
    bias = None if bias_value is None else backend.prepared(
        bias_value, "vector", lambda v: backend.asarray(v.reshape(-1)))
    wdtype = backend.dtype_of(node.inputs[0].dtype)
    if not extra:
        conv = mkldnn._convolution_pointwise
        attr, scalars = _MKLDNN_UNARY.get(nonline, ("none", []))
        after = _INPLACE_UNARY["IDENTITY" if nonline in _MKLDNN_UNARY else nonline]

        def run(x: torch.Tensor) -> torch.Tensor:
            if x.dtype != wdtype:
                x = x.to(wdtype)
            return after(conv(x, weight, bias, pad, stride, dilate, groups, attr, scalars, ""))

        return BoundOp(run, (0,))
    unary = None  # the binary form fuses only relu, which loses NaN (see _MKLDNN_UNARY)
    act = _INPLACE_UNARY[nonline]
    (z,) = extra
    if site.donated[z]:
        into = mkldnn._convolution_pointwise_.binary

        def run_into(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            if x.dtype != wdtype:
                x = x.to(wdtype)
            return act(into(r, x, weight, bias, pad, stride, dilate, groups, "add", None,
                            unary, [], ""))

        return BoundOp(run_into, (0, z), z)
    binary = mkldnn._convolution_pointwise.binary

    def run_binary(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        if x.dtype != wdtype:
            x = x.to(wdtype)
        return act(binary(x, r, weight, bias, pad, stride, dilate, groups, "add", None,
                          unary, [], ""))

    return BoundOp(run_binary, (0, z))


def _matmul_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    node, op = site.node, site.node.op
    b = site.consts[1]
    if b is None or b.ndim != 2 or op.transposeA or node.inputs[0].ndim != 2:
        return None
    weight = backend.prepared(b, f"linear-{op.transposeB}", lambda v: backend.asarray(
        np.ascontiguousarray(v if op.transposeB else v.T)))
    linear, wdtype = tF.linear, weight.dtype
    return BoundOp(lambda a: linear(a if a.dtype == wdtype else a.to(wdtype), weight), (0,))


def _pool_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    node, op = site.node, site.node.op
    shape = node.inputs[0].shape
    if op.format != "NCHW" or op.mode == "MAX" or (op.pad_h, op.pad_w) != (0, 0) or \
            (op.window_h, op.window_w) != shape[2:]:
        return None
    pool = tF.adaptive_avg_pool2d
    return BoundOp(lambda x: pool(x, 1), (0,))


def _type_cvt_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    target = backend.dtype_of(np.dtype(site.node.op.dtype))
    return BoundOp(lambda x: x.to(target), (0,))


def _elemwise_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    node, mode = site.node, site.node.op.mode
    out = node.outputs[0]
    if out.dtype.kind != "f" or any(v.dtype != out.dtype for v in node.inputs):
        return None
    target = next((k for k, v in enumerate(node.inputs)
                   if site.donated[k] and v.shape == out.shape), None)
    if mode in _INPLACE_UNARY and len(node.inputs) == 1:
        act = _INPLACE_UNARY[mode]
        if target == 0:
            return BoundOp(act, (0,), 0)
        fn = ELEMWISE[mode]
        return BoundOp(fn, (0,))
    if mode not in _INPLACE_BINARY or len(node.inputs) != 2:
        return None
    method, act_name = _INPLACE_BINARY[mode]
    act = _INPLACE_UNARY[act_name]
    if target == 0 or (target == 1 and mode in _SYMMETRIC):
        other = 1 - target
        call = getattr(torch.Tensor, method)

        def inplace(*xs: torch.Tensor) -> torch.Tensor:
            return act(call(xs[target], xs[other]))

        return BoundOp(inplace, (0, 1), target)
    plain = getattr(torch, method.rstrip("_"))
    return BoundOp(lambda a, b: act(plain(a, b)), (0, 1))


def _padding_bind(backend: TorchPlanBackend, site: BindSite) -> BoundOp | None:
    """Constant padding that keeps the input's memory format (channels-last stays so)."""
    node, op = site.node, site.node.op
    if op.padding_mode != "CONSTANT":
        return None
    x, out = node.inputs[0], node.outputs[0]
    widths = op.pad_width(x.ndim)
    inner = tuple(slice(f, f + d) for d, (f, _) in zip(x.shape, widths, strict=True))
    borders = []  # the padded slabs, one per side of each padded axis
    for axis, (front, back) in enumerate(widths):
        lead = (slice(None),) * axis
        borders += [lead + (slice(0, front),)] if front else []
        borders += [lead + (slice(front + x.shape[axis], None),)] if back else []
    value = float(op.padding_val)
    cl = torch.channels_last

    def run(t: torch.Tensor) -> torch.Tensor:
        fmt = cl if t.ndim == 4 and t.is_contiguous(memory_format=cl) else torch.contiguous_format
        y = torch.empty(out.shape, dtype=t.dtype, device=t.device, memory_format=fmt)
        y[inner] = t
        for border in borders:
            y[border] = value
        return y

    return BoundOp(run, (0,))


_BINDERS: dict[str, Callable[[TorchPlanBackend, BindSite], BoundOp | None]] = {
    "Padding": _padding_bind,
    "ConvolutionForward": _conv_bind, "ConvBiasForward": _conv_bind,
    "MatrixMul": _matmul_bind, "PoolingForward": _pool_bind, "TypeCvt": _type_cvt_bind,
    "Elemwise": _elemwise_bind,
}

__all__ = ["TorchPlanBackend"]
