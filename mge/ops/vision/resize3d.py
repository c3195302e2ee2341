"""``Resize3DForward``: trilinear resize of NCDHW volumes (MegEngine 1.13 ``Resize3D``).

MegEngine passes the output size ``(depth, height, width)`` as an input var; here it is
the param ``dsize`` and the ``.mge`` reader/writer converts. Only ``imode="LINEAR"`` and
``format="NCDHW"`` exist in MegEngine (its param default, ``NDHWC``, is rejected when
the op runs, as here).

The kernels are in :mod:`.numpy_resize3d`.

Example:
    >>> op = Resize3DForward(format="NCDHW", dsize=(4, 6, 8))
    >>> op.infer([TensorInfo((1, 2, 2, 3, 4), F32)])[0].shape
    (1, 2, 4, 6, 8)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from . import F16, F32, INTERP_MODES


@register_op
class Resize3DForward(OpDef):
    """Trilinear resize of a batch of NCDHW volumes to ``dsize = (depth, height, width)``."""

    type_name = "Resize3DForward"
    memory = Memory.FRESH
    mge_form = MgeForm("Resize3D", ("Resize3D",), static=(("dsize", "shape"),))
    nr_inputs = (1,)
    imode: str = "LINEAR"
    format: str = "NDHWC"
    align_corners: bool = False
    dsize: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dsize", tuple(self.dsize))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (src,) = inputs
        check_enum(self, "imode", INTERP_MODES)
        check_enum(self, "format", ("NCDHW", "NDHWC"))
        if self.format != "NCDHW":
            self.fail("only format NCDHW is supported (as in MegEngine)", inputs)
        if self.imode != "LINEAR":
            self.fail("only imode LINEAR (trilinear) is supported (as in MegEngine)", inputs)
        if len(self.dsize) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0
                                           for d in self.dsize):
            self.fail(f"dsize must be (depth, height, width) with positive ints, got "
                      f"{self.dsize!r}", inputs)
        if src.ndim != 5 or 0 in src.shape:
            self.fail(f"src must be a non-empty 5-d NCDHW tensor, got {src.shape}", inputs)
        if src.dtype not in (F32, F16):
            self.fail(f"src must be float32 or float16, got {src.dtype}", inputs)
        return [TensorInfo((*src.shape[:2], *self.dsize), src.dtype)]
