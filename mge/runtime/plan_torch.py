"""The torch plan backend: PyTorch kernels on CPU or CUDA, bound once per op.

* Constants become torch tensors once (in the compute dtype, on the device, laid out
  channels-last when the plan is). The ops' torch preparations
  (:mod:`mge.backends.torch`) use them: convolutions with packed oneDNN filters and
  fused epilogues, ``MatrixMul`` by a constant as ``linear``, global average pooling
  as ``adaptive_avg_pool2d``, constant padding that keeps channels-last, elementwise
  ops written into dead inputs (``add_``, ``relu_``).
* Runs under ``torch.inference_mode()`` with the plan's thread count (torch's
  process-wide setting is left at it: switching costs milliseconds).
* ``compute_dtype`` (``"bfloat16"``/``"float16"``) holds and computes every float tensor
  in that type; inputs are cast on entry and outputs back to their dtypes.

Every other op runs the eager torch backend's kernel.

Example:
    >>> plan = Plan(graph, PlanOptions(backend="torch", compute_dtype="bfloat16",
    ...                                channels_last=True))  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

from ..backends.torch import torch_dtype
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
        op = site.node.op
        preparer = type(op).preparers.get(self.kernels.name)
        bound = preparer(op, site) if preparer is not None else None
        if bound is not None:  # the op's torch preparation knows the plan's dtypes
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


__all__ = ["TorchPlanBackend"]
