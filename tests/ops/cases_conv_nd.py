"""Op-table cases for the 3-d convolutions, the window ops (Images2Neibs,
SlidingWindowTranspose, GroupLocal) and DeformableConvForward."""

from __future__ import annotations

import dataclasses

import numpy as np

from mge.backends import load_backend
from mge.ops.conv import (
    Convolution3DBackwardData,
    Convolution3DForward,
    DeformableConvForward,
    GroupLocal,
    Images2Neibs,
    SlidingWindowTranspose,
)
from mge.ops.conv.deformable import DeformableConvBackwardData, DeformableConvBackwardFilter

from .optable import OpCase, rand

_TOL = {"atol": 1e-4, "rtol": 1e-4}
_F16 = {"atol": 2e-2, "rtol": 1e-2}

CASES = [
    OpCase(Convolution3DForward(), [rand(2, 3, 4, 5, 4), rand(4, 3, 2, 3, 2, seed=1)], **_TOL),
    OpCase(Convolution3DForward(pad_d=1, pad_h=2, stride_d=2, stride_w=2, dilate_h=2,
                                sparse="GROUP"),
           [rand(1, 4, 5, 6, 7), rand(2, 3, 2, 2, 3, 2, seed=1)], id="Conv3D-group-pad-stride",
           **_TOL),
    OpCase(Convolution3DForward(mode="CONVOLUTION", pad_w=1),
           [rand(1, 2, 3, 3, 3), rand(2, 2, 2, 2, 3, seed=1)], id="Conv3D-flip", **_TOL),
    OpCase(Convolution3DForward(pad_d=1, pad_h=1, pad_w=1),
           [rand(1, 2, 3, 4, 4, dtype="float16"), rand(3, 2, 3, 3, 3, dtype="float16", seed=1)],
           id="Conv3D-float16", **_F16),
    OpCase(Convolution3DBackwardData(),
           [rand(3, 2, 2, 3, 2, seed=1), rand(2, 3, 3, 2, 4)], **_TOL),
    OpCase(Convolution3DBackwardData(stride_d=2, stride_h=3, stride_w=2, pad_d=1, pad_h=1,
                                     dilate_w=2, sparse="GROUP"),
           [rand(2, 2, 3, 3, 2, 2, seed=1), rand(1, 4, 3, 3, 4)], id="Conv3DBwd-group-stride",
           **_TOL),
    OpCase(Convolution3DBackwardData(stride_d=2, stride_h=2, stride_w=2,
                                     output_dhw=(6, 7, 5)),
           [rand(3, 2, 2, 3, 1, seed=1), rand(1, 3, 3, 3, 3)], id="Conv3DBwd-output-dhw",
           **_TOL),
    OpCase(Images2Neibs(window_h=2, window_w=3), [rand(2, 3, 5, 6)]),
    OpCase(Images2Neibs(pad_h=1, pad_w=2, stride_h=2, dilate_w=3, window_h=3, window_w=2),
           [rand(2, 3, 7, 8)], id="Images2Neibs-pad-stride-dilate"),
    OpCase(SlidingWindowTranspose(out_h=5, out_w=6, window_h=2, window_w=3),
           [rand(2, 3, 4, 4, 2, 3)], **_TOL),
    OpCase(SlidingWindowTranspose(out_h=7, out_w=8, pad_h=1, pad_w=2, stride_h=2, dilate_w=3,
                                  window_h=3, window_w=2),
           [rand(2, 3, 4, 9, 3, 2)], id="SlidingWindowTranspose-pad-stride-dilate", **_TOL),
    OpCase(SlidingWindowTranspose(out_h=8, out_w=9, stride_h=2, stride_w=3, window_h=3,
                                  window_w=2),
           [rand(1, 2, 3, 3, 3, 2, seed=2)], id="SlidingWindowTranspose-uncovered-edge"),
    OpCase(GroupLocal(), [rand(2, 3, 5, 5), rand(1, 3, 3, 3, 3, 3, 4, seed=1)], **_TOL),
    OpCase(GroupLocal(pad_h=1, pad_w=1, stride_h=2),
           [rand(1, 4, 6, 5), rand(2, 3, 5, 2, 3, 3, 3, seed=1)], id="GroupLocal-group-pad",
           **_TOL),
]



def _offsets(*shape: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """Offsets at least 0.02 from whole numbers: sample positions off the bilinear kinks,
    where finite differences (the gradient check) would straddle two cells."""
    off = rand(*shape, seed=seed) * scale
    near = np.abs(off - np.round(off)) < 0.02
    return np.where(near, off + 0.05, off).astype(np.float32)


_OFF = _offsets(2, 2 * 2 * 6, 4, 3, seed=3, scale=1.5)
CASES += [
    OpCase(DeformableConvForward(pad_h=1, pad_w=1),
           [rand(1, 3, 4, 4), rand(2, 3, 3, 3, seed=1), _offsets(1, 18, 4, 4, seed=2),
            rand(1, 9, 4, 4, seed=4, low=0, high=1)], **_TOL),
    OpCase(DeformableConvForward(sparse="GROUP", stride_w=2, pad_h=1, dilate_h=2),
           [rand(2, 4, 6, 7), rand(2, 3, 2, 3, 2, seed=1), _OFF,
            rand(2, 12, 4, 3, seed=4, low=0, high=1)], id="DeformableConv-group-dg2", **_TOL),
]
# the gradients (inputs src, filter, offset, mask and the output gradient)
for _fwd in [c for c in CASES if type(c.op) is DeformableConvForward]:
    _params = {f.name: getattr(_fwd.op, f.name) for f in dataclasses.fields(_fwd.op)}
    _diff = rand(*load_backend("numpy").run(_fwd.op, _fwd.inputs).shape, seed=7)
    CASES += [OpCase(kind(**_params), [*_fwd.inputs, _diff], id=f"{kind.__name__}-{_fwd.id}",
                     **_TOL)
              for kind in (DeformableConvBackwardData, DeformableConvBackwardFilter)]
