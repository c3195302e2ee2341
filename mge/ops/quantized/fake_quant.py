"""MegEngine's fake quantization ops: ``FakeQuant``, ``TQT`` and ``LSQ`` (float32 in, the
input rounded to a quantization grid and back out).

Each takes the input ``x`` and float32 quantization parameters that broadcast to ``x``
(one value: per tensor; ``(1, C, 1, 1)``: per channel) and the integer range
``[qmin, qmax]`` as params (MegEngine's ``param::FakeQuant``/``TQT``/``LSQ``). Their
values are MegEngine's naive kernels' (``dnn/src/naive/{fake_quant,tqt,lsq}``), every
step in float32, ``round`` half away from zero, a NaN staying NaN:

- ``FakeQuant(x, scale, zero_point)``: ``(clip(round(x / s) + zp, qmin, qmax) - zp) * s``;
- ``TQT(x, scale)``: ``t = 2 ** scale`` (computed in double, stored in float32);
  ``clip(round(x / t), qmin, qmax) * t``;
- ``LSQ(x, scale, zero_point, grad_scale)``:
  ``(round(clip(x / s + zp, qmin, qmax)) - zp) * s`` (``grad_scale`` only scales the
  scale's gradient).

Their gradient rules (MegEngine's backward kernels) are registered by
:mod:`mge.quantization.fake_quant_ops`.

Example:
    >>> f32 = np.dtype("float32")
    >>> FakeQuant(qmin=-128, qmax=127).infer(
    ...     [TensorInfo((2, 3, 4, 4), f32), TensorInfo((1, 3, 1, 1), f32),
    ...      TensorInfo((1,), f32)])[0].shape
    (2, 3, 4, 4)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, register_op

_F32 = np.dtype("float32")
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


@dataclasses.dataclass(frozen=True)
class _GridOp(OpDef):
    """What the three ops share: float32 inputs whose parameters broadcast to the first,
    one float32 output of the first input's shape, params ``qmin``/``qmax``."""

    memory = Memory.FRESH
    #: names of the inputs, for messages
    input_names: ClassVar[tuple[str, ...]] = ()
    qmin: int = _INT32_MIN
    qmax: int = _INT32_MAX

    def __post_init__(self) -> None:
        # MegEngine code passes numpy integers (``dtype_meta.qmin``): kept as ints
        object.__setattr__(self, "qmin", int(self.qmin))
        object.__setattr__(self, "qmax", int(self.qmax))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        for name, info in zip(self.input_names, inputs):
            if info.dtype != _F32:
                self.fail(f"{name} must be float32, got {info.dtype}", inputs)
        x = inputs[0]
        for name, info in zip(self.input_names[1:], inputs[1:]):
            if len(info.shape) > len(x.shape) or any(
                    d not in (1, n) for d, n in zip(info.shape[::-1], x.shape[::-1])):
                self.fail(f"{name} of shape {info.shape} does not broadcast to the input's "
                          f"{x.shape}", inputs)
        if self.qmin > self.qmax:
            self.fail(f"qmin {self.qmin} is above qmax {self.qmax}", inputs)
        return [TensorInfo(x.shape, _F32)]


@register_op
class FakeQuant(_GridOp):
    """``(clip(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale``."""

    type_name = "FakeQuant"
    mge_form = MgeForm("FakeQuant", ("FakeQuant",))
    nr_inputs = (3,)
    input_names = ("input", "scale", "zero_point")


@register_op
class TQT(_GridOp):
    """``clip(round(x / t), qmin, qmax) * t`` with ``t = 2 ** scale``."""

    type_name = "TQT"
    mge_form = MgeForm("TQT", ("TQT",))
    nr_inputs = (2,)
    input_names = ("input", "scale")


@register_op
class LSQ(_GridOp):
    """``(round(clip(x / scale + zero_point, qmin, qmax)) - zero_point) * scale``."""

    type_name = "LSQ"
    mge_form = MgeForm("LSQ", ("LSQ",))
    nr_inputs = (4,)
    input_names = ("input", "scale", "zero_point", "grad_scale")


__all__ = ["LSQ", "TQT", "FakeQuant"]
