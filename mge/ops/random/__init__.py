"""Random-number ops: MegEngine's ``UniformRNG``, ``GaussianRNG``, ``GammaRNG``,
``PoissonRNG``, ``BetaRNG``, ``PermutationRNG`` and ``ShuffleRNG``.

Their params are MegEngine's (``seed``, ``handle``, ``dtype``, ``mean``, ``std``); the
size of ``UniformRNG``/``GaussianRNG``/``PermutationRNG`` is the static param ``shape``
(MegEngine passes it as an int32 shape var, which ``.mge`` files hold: ``MgeForm.static``).
``GammaRNG``/``BetaRNG`` take two same-shape float32 parameter tensors, ``PoissonRNG`` one;
``ShuffleRNG`` shuffles its input along axis 0 and also gives the int32 indices used.

Their outputs differ from run to run (``OpDef.random``): passes never fold them and
graphs never compute them at load time, so a traced or loaded graph draws fresh values
on every run. Eagerly an op draws from the generator of its ``handle``
(:mod:`.handles`; 0: the global one); in a compiled graph each op node owns a generator
seeded with its ``seed``, advancing run after run, as MegEngine's graph operators do.

Example:
    >>> UniformRNG(seed=3, shape=(2, 3)).infer([])[0].shape
    (2, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, register_op

_FLOAT32 = np.dtype("float32")
_INT32 = np.dtype("int32")


@dataclasses.dataclass(frozen=True)
class RNGOp(OpDef):
    """Base of the random ops: ``seed`` and ``handle`` pick the generator (handle 0: the
    global one). Wrong input counts and dtypes raise ``TypeError`` as MegEngine's do."""

    memory = Memory.FRESH
    random: ClassVar[bool] = True
    seed: int = 0
    handle: int = 0

    def check_inputs(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if self.nr_inputs is not None and len(inputs) not in self.nr_inputs:
            raise TypeError(f"{self.type_name} takes {self.nr_inputs[0]} input(s), "
                            f"got {len(inputs)}")
        return self.infer(inputs)

    def _float_params(self, inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
        if any(i.dtype.kind != "f" for i in inputs):
            raise TypeError(f"{self}: parameters must be float tensors, got "
                            f"{', '.join(str(i) for i in inputs)}")
        if any(i.shape != inputs[0].shape for i in inputs):
            self.fail("parameter tensors must have one shape", inputs)
        return tuple(inputs[0].shape)


@dataclasses.dataclass(frozen=True)
class ShapedRNGOp(RNGOp):
    """Base of the ops drawing a tensor of the static ``shape`` (no tensor inputs)."""

    nr_inputs = (0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))  # type: ignore[attr-defined]

    def out_shape(self) -> tuple[int, ...]:
        shape = self.shape  # type: ignore[attr-defined]
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0
               for d in shape):
            raise ValueError(f"{self.type_name}: the shape must hold non-negative sizes, "
                             f"got {shape!r}")
        return tuple(int(d) for d in shape)

    def float_dtype(self) -> np.dtype:
        dt = np.dtype(self.dtype)  # type: ignore[attr-defined]
        if dt.kind != "f":
            raise TypeError(f"{self.type_name}: dtype must be a float type, got {dt}")
        return dt


@register_op
class UniformRNG(ShapedRNGOp):
    """U[0, 1) of ``shape`` in ``dtype``.

    Example:
        >>> UniformRNG(shape=(4,), dtype="float16").infer([])[0].dtype
        dtype('float16')
    """

    type_name = "UniformRNG"
    mge_form = MgeForm("UniformRNGV1", ("UniformRNG",), static=(("shape", "shape"),))
    dtype: Any = "float32"
    shape: tuple[int, ...] = ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self.out_shape(), self.float_dtype())]


@register_op
class GaussianRNG(ShapedRNGOp):
    """N(mean, std^2) of ``shape`` in ``dtype``."""

    type_name = "GaussianRNG"
    mge_form = MgeForm("GaussianRNGV1", ("GaussianRNG",), static=(("shape", "shape"),))
    mean: float = 0.0
    std: float = 1.0
    dtype: Any = "float32"
    shape: tuple[int, ...] = ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not self.std >= 0:
            raise ValueError(f"GaussianRNG: std must be >= 0, got {self.std}")
        return [TensorInfo(self.out_shape(), self.float_dtype())]


@register_op
class PermutationRNG(ShapedRNGOp):
    """A random permutation of ``0..n-1`` as ``dtype`` (``shape``: ``(n,)``)."""

    type_name = "PermutationRNG"
    mge_form = MgeForm("PermutationRNG", ("PermutationRNG",), static=(("shape", "shape"),))
    dtype: Any = "int32"
    shape: tuple[int, ...] = ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        dt = np.dtype(self.dtype)
        if dt not in (np.float32, np.int32, np.int16):
            raise TypeError(f"PermutationRNG: dtype must be float32, int32 or int16, got {dt}")
        size = self.out_shape()
        if len(size) != 1:
            raise ValueError(f"PermutationRNG: the shape must hold one size, got {size}")
        if size[0] > (np.iinfo(dt).max + 1 if dt.kind == "i" else 2 ** 24):
            raise ValueError(f"PermutationRNG: {size[0]} values do not fit {dt} exactly")
        return [TensorInfo(size, dt)]


@register_op
class GammaRNG(RNGOp):
    """Gamma(shape, scale) elementwise over two same-shape float tensors (float32)."""

    type_name = "GammaRNG"
    mge_form = MgeForm("GammaRNG", ("GammaRNG",))
    nr_inputs = (2,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self._float_params(inputs), _FLOAT32)]


@register_op
class BetaRNG(RNGOp):
    """Beta(alpha, beta) elementwise over two same-shape float tensors (float32)."""

    type_name = "BetaRNG"
    mge_form = MgeForm("BetaRNG", ("BetaRNG",))
    nr_inputs = (2,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self._float_params(inputs), _FLOAT32)]


@register_op
class PoissonRNG(RNGOp):
    """Poisson(lam) elementwise over the float tensor ``lam`` (float32 counts)."""

    type_name = "PoissonRNG"
    mge_form = MgeForm("PoissonRNG", ("PoissonRNG",))
    nr_inputs = (1,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self._float_params(inputs), _FLOAT32)]


@register_op
class ShuffleRNG(RNGOp):
    """The input shuffled along axis 0 (a 0-d input as shape ``(1,)``) and the int32
    indices used: ``out = inp[indices]`` (its gradient flows back through them)."""

    type_name = "ShuffleRNG"
    mge_form = MgeForm("ShuffleRNG", ("ShuffleRNG",))
    nr_inputs = (1,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        shape = tuple(x.shape) or (1,)
        if shape[0] == 0:
            raise ValueError(f"ShuffleRNG: input must have at least one element along "
                             f"axis 0, got shape {x.shape}")
        return [TensorInfo(shape, x.dtype), TensorInfo((shape[0],), _INT32)]


__all__ = ["BetaRNG", "GammaRNG", "GaussianRNG", "PermutationRNG", "PoissonRNG", "RNGOp",
           "ShapedRNGOp", "ShuffleRNG", "UniformRNG"]

from . import grad  # noqa: E402,F401
