"""A calibrated QAT network's dataflow as steps, cut into blocks and run in torch, float
or as its int8 network computes it (what :func:`~.reconstruct_blocks` optimizes through).

A network whose tensors between modules flow only through modules (``OnnxConvNet``'s
``steps``, a ``Sequential``) is a list of :class:`Step`: a module name, the names of its
input tensors and of its output tensor. :func:`split_blocks` cuts it where exactly one
tensor is live, produced by a ``Conv2d`` or an ``Elemwise("add")`` and not passed to an
activation: for MobileNetV2, one block per inverted-residual block (expand, depthwise,
project, residual add). :class:`TorchBlock` runs one block in torch: ``Conv2d``,
``Pad`` (constant 0) and ``Elemwise`` relu/relu6/add; quantized, every weight is
``code * scale`` and every module's output is fake-quantized at its int8 scale (the
integer network's rounding, within its bias rounding), with a straight-through gradient.

Example:
    >>> import mge.module as M
    >>> steps = [Step("0", ("x",), "a"), Step("1", ("a",), "b"), Step("2", ("b",), "c")]
    >>> modules = {"0": M.Conv2d(3, 4, 1), "1": M.Elemwise("relu6"), "2": M.Conv2d(4, 4, 1)}
    >>> [[s.module for s in b] for b in split_blocks(steps, modules)]
    [['0', '1', '2']]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..dtype import code_zero_point, get_scale, quantized_range
from ..module import Conv2d, Elemwise, Module, Pad

_ACTIVATIONS = ("relu", "relu6")


@dataclass(frozen=True)
class Step:
    """One module call: ``output = module(*inputs)`` (tensor names)."""

    module: str
    inputs: tuple[str, ...]
    output: str


def split_blocks(steps: list[Step], modules: Mapping[str, Module]) -> list[list[Step]]:
    """``steps`` cut into blocks after every step whose output is then the only live
    tensor, comes from a ``Conv2d`` or an ``Elemwise("add")`` and feeds no activation
    (the last step always ends a block)."""
    last_use: dict[str, int] = {}
    consumers: dict[str, list[Module]] = {}
    for i, s in enumerate(steps):
        for t in s.inputs:
            last_use[t] = i
            consumers.setdefault(t, []).append(modules[s.module])
    blocks: list[list[Step]] = [[]]
    live: set[str] = set()
    for i, s in enumerate(steps):
        blocks[-1].append(s)
        live = {t for t in live | set(s.inputs) | {s.output} if last_use.get(t, -1) > i}
        m = modules[s.module]
        linear = isinstance(m, Conv2d) or (isinstance(m, Elemwise) and m.method == "add")
        feeds_activation = any(isinstance(c, Elemwise) and c.method in _ACTIVATIONS
                               for c in consumers.get(s.output, []))
        if i < len(steps) - 1 and live == {s.output} and linear and not feeds_activation:
            blocks.append([])
    return blocks


def activation_scale(module: Module, what: str) -> float:
    """The int8 output scale of a calibrated QAT ``module`` (symmetric qint8 only)."""
    dtype = module.get_activation_dtype()
    if dtype is None or quantized_range(dtype) != (-128, 127) or code_zero_point(dtype) != 0:
        raise ValueError(f"block reconstruction: {what} ({type(module).__name__}) has output "
                         f"dtype {dtype}, not a symmetric qint8")
    return float(get_scale(dtype))


def fake_quant(torch: Any, x: Any, scale: float, drop: float = 0.0) -> Any:
    """``clip(round(x / scale), -128, 127) * scale`` with a straight-through gradient inside
    the range; ``drop``: each value keeps ``x`` with that probability (QDrop)."""
    lo, hi = -128 * scale, 127 * scale
    clipped = torch.clamp(x, lo, hi)
    q = clipped + (torch.clamp(torch.round(x / scale), -128, 127) * scale - clipped).detach()
    if drop > 0.0:
        return torch.where(torch.rand_like(x) < drop, x, q)
    return q


@dataclass
class SoftWeight:
    """One ``Conv2d``'s weight as a learned rounding: ``(floor(w / s) + h(V)) * s``."""

    name: str
    scale: float
    qmin: int
    qmax: int
    floor: Any  # torch: floor(w / s), the torch layout (out, in per group, kh, kw)
    nearest: Any  # torch: round(w / s)
    v: Any  # torch parameter, the shape of floor


class TorchBlock:
    """One block of a calibrated QAT network in torch (float32), with the float weights
    its convs have when it is built."""

    def __init__(self, torch: Any, steps: list[Step], modules: Mapping[str, Module],
                 scales: dict[str, float]) -> None:
        self.torch, self.steps, self.modules = torch, steps, modules
        self.scales = scales  # int8 scale of every tensor name seen so far (updated)
        self.params: dict[str, tuple[Any, Any]] = {}
        for s in steps:
            m = modules[s.module]
            if isinstance(m, Conv2d):
                w = m.weight.numpy()
                w = w.reshape(-1, *w.shape[2:]) if w.ndim == 5 else w
                bias = None if m.bias is None else torch.as_tensor(m.bias.numpy().reshape(-1))
                self.params[s.module] = (torch.as_tensor(w), bias)
            elif isinstance(m, Pad):
                if m.mode != "constant" or m.pad_val != 0:
                    raise ValueError(f"block reconstruction: {s.module!r}: Pad mode {m.mode!r} "
                                     f"value {m.pad_val} (only constant 0)")
            elif not (isinstance(m, Elemwise) and m.method in (*_ACTIVATIONS, "add")):
                raise ValueError(f"block reconstruction: {s.module!r} ({type(m).__name__}) "
                                 "is not a Conv2d, Pad or Elemwise relu/relu6/add")
            scales[s.output] = scales[s.inputs[0]] if isinstance(m, Pad) else \
                activation_scale(m, repr(s.module))
        self.inputs = sorted({t for s in steps for t in s.inputs}
                             - {s.output for s in steps})
        self.output = steps[-1].output

    def run(self, values: dict[str, Any], weights: Mapping[str, Any] | None = None,
            drop: float = 0.0) -> Any:
        """The block's output from ``values`` (its inputs by name); ``weights``: each
        conv's quantized torch weight (None: the float network, no fake quantization)."""
        torch, fn = self.torch, self.torch.nn.functional
        vals = dict(values)
        for s in self.steps:
            m, xs = self.modules[s.module], [vals[t] for t in s.inputs]
            if isinstance(m, Conv2d):
                y = self._conv(s, m, xs[0], weights)
            elif isinstance(m, Pad):
                (_, _), (_, _), (top, bottom), (left, right) = m.pad_width
                y = fn.pad(xs[0], (left, right, top, bottom))
            elif m.method == "add":
                y = xs[0] + xs[1]
            else:
                y = torch.clamp(xs[0], 0.0, 6.0) if m.method == "relu6" else torch.relu(xs[0])
            if weights is not None and not isinstance(m, Pad):
                y = fake_quant(torch, y, self.scales[s.output], drop)
            vals[s.output] = y
        return vals[self.output]

    def _conv(self, s: Step, m: Conv2d, x: Any, weights: Mapping[str, Any] | None) -> Any:
        w, b = self.params[s.module]
        if weights is not None:
            w = weights[s.module]
            if b is not None:  # the int32 bias at input scale x weight scale
                step = self.scales[s.inputs[0]] * self.weight_scale(s.module)
                b = self.torch.round(b / step) * step
        return self.torch.nn.functional.conv2d(x, w, b, m.stride, m.padding, m.dilation,
                                               m.groups)

    def weight_scale(self, name: str) -> float:
        """The int8 weight scale of conv ``name``."""
        return float(get_scale(self.modules[name].get_weight_dtype()))

    def soft_weights(self) -> list[SoftWeight]:
        """A :class:`SoftWeight` per conv, ``V`` at AdaRound's start (``h(V)`` = the
        fractional part of ``w / s``)."""
        out = []
        torch = self.torch
        for name, (w, _) in self.params.items():
            dtype = self.modules[name].get_weight_dtype()
            if dtype is None or code_zero_point(dtype) != 0:
                raise ValueError(f"block reconstruction: {name!r} has weight dtype {dtype}, "
                                 "not a calibrated symmetric one")
            scale = self.weight_scale(name)
            qmin, qmax = quantized_range(dtype)
            x = w.double() / scale
            rest = torch.clamp((x - torch.floor(x) + 0.1) / 1.2, 1e-4, 1 - 1e-4)
            v = torch.nn.Parameter(torch.log(rest / (1 - rest)).float())
            out.append(SoftWeight(name, scale, qmin, qmax, torch.floor(x).float(),
                                  torch.round(x).float(), v))
        return out


def weight_of(torch: Any, sw: SoftWeight, h: Callable[[Any], Any] | None) -> Any:
    """``sw``'s weight in torch: ``(floor(w / s) + h(V)) * s`` clipped to the code range
    (``h`` None: nearest rounding)."""
    codes = sw.nearest if h is None else sw.floor + h(sw.v)
    return torch.clamp(codes, sw.qmin, sw.qmax) * sw.scale


__all__ = ["SoftWeight", "Step", "TorchBlock", "activation_scale", "fake_quant",
           "split_blocks", "weight_of"]
