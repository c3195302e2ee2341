"""torch kernels: the convolution ops via ``torch.nn.functional`` (conv2d, conv_transpose2d)
and aten's ``convolution_backward`` (the filter gradient).

In a plan (NCHW, constant filter) the forward convolutions are *prepared* once: the
filter is canonicalised, put on the device in the plan's dtype once; on CPU with
channels-last activations oneDNN packs it once and fuses bias, residual and the
NaN-safe nonlinearities into the convolution.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as tF

from ..elemwise.torch_kernels import ELEMWISE, INPLACE_UNARY
from ..registry import TORCH, Prepared, PrepareSite
from . import (
    ConvBase,
    ConvBiasForward,
    ConvolutionBackwardData,
    ConvolutionBackwardFilter,
    ConvolutionForward,
    canonical_filter,
    from_canonical_filter,
    split_bias,
)


def _nchw_filter(op: ConvBase, w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The filter as ``(groups * oc/g, ic/g, KH, KW)`` (flipped for ``CONVOLUTION``), groups."""
    add_group, perm, flip = op.filter_layout()
    w = (w.unsqueeze(0) if add_group else w).permute(perm)
    groups, ocpg, icpg, kh, kw = w.shape
    w = w.reshape(groups * ocpg, icpg, kh, kw)
    return (w.flip((-2, -1)) if flip else w), groups


def _conv_nchw(op: ConvBase, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The convolution of NCHW ``x`` (any format's filter), without bias."""
    w, groups = _nchw_filter(op, w)
    return tF.conv2d(x, w, None, (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
                     (op.dilate_h, op.dilate_w), groups)


def _to_nchw(op: ConvBase, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if op.format == "NHWC" else x


def _from_nchw(op: ConvBase, y: torch.Tensor) -> torch.Tensor:
    return y.permute(0, 2, 3, 1).contiguous() if op.format == "NHWC" else y


@TORCH.kernel(ConvolutionForward)
def convolution(op: ConvolutionForward, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _from_nchw(op, _conv_nchw(op, _to_nchw(op, x), w))


@TORCH.kernel(ConvBiasForward)
def conv_bias(
    op: ConvBiasForward, x: torch.Tensor, w: torch.Tensor, *extra: torch.Tensor
) -> torch.Tensor:
    out = _conv_nchw(op, _to_nchw(op, x), w)
    for term in extra:
        out = out + _to_nchw(op, term)
    if op.nonlineMode != "IDENTITY":
        out = ELEMWISE[op.nonlineMode](out)
    return _from_nchw(op, out)


@TORCH.kernel(ConvolutionBackwardData)
def convolution_backward_data(
    op: ConvolutionBackwardData, w: torch.Tensor, diff: torch.Tensor
) -> torch.Tensor:
    w, groups = _nchw_filter(op, w)
    diff = _to_nchw(op, diff)
    stride, dilate = (op.stride_h, op.stride_w), (op.dilate_h, op.dilate_w)
    pad = (op.pad_h, op.pad_w)
    out_hw = op.out_hw(diff.shape[2:], w.shape[2:])
    extra = tuple(o - ((d - 1) * s + (k - 1) * dl + 1 - 2 * p) for o, d, k, s, dl, p in zip(
        out_hw, diff.shape[2:], w.shape[2:], stride, dilate, pad, strict=True))
    out = tF.conv_transpose2d(diff, w, None, stride, pad, extra, groups, dilate)
    return _from_nchw(op, out)


@TORCH.kernel(ConvolutionBackwardFilter)
def convolution_backward_filter(
    op: ConvolutionBackwardFilter, x: torch.Tensor, diff: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """torch's own filter-gradient kernel (oneDNN on CPU), one call for all groups."""
    canonical, groups = _nchw_filter(op, w)
    _, grad, _ = torch.ops.aten.convolution_backward(
        _to_nchw(op, diff), _to_nchw(op, x), canonical, None, [op.stride_h, op.stride_w],
        [op.pad_h, op.pad_w], [op.dilate_h, op.dilate_w], False, [0, 0], groups,
        [False, True, False])
    grad = grad.reshape(groups, grad.shape[0] // groups, *grad.shape[1:])
    return from_canonical_filter(op, grad).contiguous()


# ------------------------------------------------------------------ plan preparation
@TORCH.preparer(ConvolutionForward, ConvBiasForward)
def prepare_conv(op: ConvBase, site: PrepareSite) -> Prepared | None:
    """A plan's NCHW convolution with a constant filter: the filter canonicalised and
    put on the device once; oneDNN's packed filter and fused epilogue on CPU."""
    filt, host = site.consts[1], site.host
    if host is None or op.format != "NCHW" or filt is None:
        return None
    groups = 1 if op.sparse == "DENSE" else filt.shape[0]

    def make_filter(value: np.ndarray) -> torch.Tensor:
        w = canonical_filter(op, value)
        return host.asarray(np.ascontiguousarray(w.reshape(-1, *w.shape[2:])))

    if host.mkldnn:
        bound = _prepare_mkldnn_conv(op, site, groups, make_filter)
        if bound is not None:
            return bound
    bias_value, extra = split_bias(op, site.consts, site.outputs[0])
    act = INPLACE_UNARY[op.epilogue()]
    weight = host.prepared(filt, f"conv-filter-{op.mode}", make_filter)
    bias = None if bias_value is None else host.prepared(
        bias_value, "vector", lambda v: host.asarray(v.reshape(-1)))
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

    return Prepared(run, (0, *extra))


#: ConvBias nonlinearities that oneDNN fuses as post-ops (attr, scalars). Its relu and
#: hardtanh post-ops are ``max``/``clamp`` that turn NaN into 0: RELU and RELU6 run in
#: place after the convolution instead, so NaN propagates as in numpy.
MKLDNN_UNARY = {"IDENTITY": ("none", []), "SIGMOID": ("sigmoid", []),
                 "H_SWISH": ("hardswish", [])}


def _prepare_mkldnn_conv(op: ConvBase, site: PrepareSite, groups: int,
                         make_filter: Callable[[np.ndarray], torch.Tensor]) -> Prepared | None:
    """oneDNN's fused convolution with a filter packed once (CPU): bias, residual and
    nonlinearity in one kernel, the residual overwritten in place when it is dead."""
    host = site.host
    nonline = op.epilogue()
    bias_value, extra = split_bias(op, site.consts, site.outputs[0])
    if len(extra) > 1:
        return None
    pad, stride = [op.pad_h, op.pad_w], [op.stride_h, op.stride_w]
    dilate = [op.dilate_h, op.dilate_w]
    shape = list(site.inputs[0].shape)
    mkldnn = torch.ops.mkldnn

    def pack(value: np.ndarray) -> torch.Tensor:
        return mkldnn._reorder_convolution_weight(make_filter(value), pad, stride, dilate,
                                                  groups, shape)

    try:
        # oneDNN tunes packed filters to the thread count (not much to the batch size)
        weight = host.prepared(site.consts[1], f"mkldnn-conv-{op.mode}-{pad}-{stride}-"
                               f"{dilate}-{groups}-{host.options.threads}", pack)
    except RuntimeError:  # no oneDNN kernel for this dtype on this CPU
        return None
    bias = None if bias_value is None else host.prepared(
        bias_value, "vector", lambda v: host.asarray(v.reshape(-1)))
    wdtype = host.dtype_of(site.inputs[0].dtype)
    if not extra:
        conv = mkldnn._convolution_pointwise
        attr, scalars = MKLDNN_UNARY.get(nonline, ("none", []))
        after = INPLACE_UNARY["IDENTITY" if nonline in MKLDNN_UNARY else nonline]

        def run(x: torch.Tensor) -> torch.Tensor:
            if x.dtype != wdtype:
                x = x.to(wdtype)
            return after(conv(x, weight, bias, pad, stride, dilate, groups, attr, scalars, ""))

        return Prepared(run, (0,))
    unary = None  # the binary form fuses only relu, which loses NaN (see MKLDNN_UNARY)
    act = INPLACE_UNARY[nonline]
    (z,) = extra
    donated = site.donated[z]
    fused = (mkldnn._convolution_pointwise_ if donated else mkldnn._convolution_pointwise).binary

    def run_binary(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        if x.dtype != wdtype:
            x = x.to(wdtype)
        first, other = (r, x) if donated else (x, r)  # the in-place form writes into r
        return act(fused(first, other, weight, bias, pad, stride, dilate, groups, "add", None,
                         unary, [], ""))

    return Prepared(run_binary, (0, z), z if donated else None)


from . import torch_conv3d, torch_deformable, torch_window  # noqa: E402,F401 - more ops
