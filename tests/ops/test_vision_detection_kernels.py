"""The detection and remap kernels: torch against the numpy reference on generated inputs.

hypothesis draws boxes (including degenerate and far-outside ones), feature maps,
sampling grids and images; every backend other than numpy must give the numpy
kernel's outputs (integers exactly, floats within 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mge.backends import available_backends, get_backend
from mge.core.opdef import OpDef
from mge.ops.vision.color import MODES, PACKED, CvtColorForward
from mge.ops.vision.detection import (
    CorrelationForward,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
)
from mge.ops.vision.remap import RemapForward, WarpAffineForward

OTHERS = [b for b in available_backends() if b != "numpy"]
pytestmark = pytest.mark.skipif(not OTHERS, reason="only the numpy backend is installed")
SETTINGS = settings(max_examples=25, deadline=None)
BORDERS = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT")


def floats(shape: tuple[int, ...], lo: float, hi: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=st.floats(lo, hi, width=32))


def assert_backends_agree(op: OpDef, *inputs: np.ndarray) -> None:
    want = get_backend("numpy").run(op, list(inputs))
    want = want if isinstance(want, tuple) else (want,)
    for name in OTHERS:
        backend = get_backend(name)
        got = backend.run(op, [backend.asarray(np.ascontiguousarray(x)) for x in inputs])
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want, strict=True):
            g = backend.to_numpy(g)
            assert g.shape == w.shape and g.dtype == w.dtype, (name, op)
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64),
                                       atol=0 if w.dtype.kind in "iub" else 1e-6, rtol=0,
                                       err_msg=f"{name}: {op}")


@st.composite
def boxes(draw: st.DrawFn, n: int) -> np.ndarray:
    corner = draw(floats((n, 2), -20, 60))
    size = draw(floats((n, 2), -5, 40))  # negative: degenerate boxes
    return np.concatenate([corner, corner + size], axis=1)


@SETTINGS
@given(n=st.integers(0, 12), data=st.data(), thresh=st.floats(0, 1, width=32),
       max_output=st.integers(1, 14))
def test_nms_keep(n: int, data: st.DataObject, thresh: float, max_output: int) -> None:
    b = data.draw(boxes(n))
    assert_backends_agree(NMSKeep(iou_thresh=thresh, max_output=max_output), b[None])


@st.composite
def rois(draw: st.DrawFn, batch: int) -> np.ndarray:
    k = draw(st.integers(0, 5))
    idx = draw(hnp.arrays(np.int64, (k, 1), elements=st.integers(0, batch - 1)))
    return np.concatenate([idx.astype(np.float32), draw(boxes(k)) / 4], axis=1)


@SETTINGS
@given(data=st.data(), mode=st.sampled_from(["MAX", "AVERAGE"]), ph=st.integers(1, 4),
       pw=st.integers(1, 4), sh=st.integers(0, 3), sw=st.integers(0, 3),
       scale=st.sampled_from([1.0, 0.5, 0.37]), offset=st.sampled_from([0.0, 0.5]))
def test_roi_align(data: st.DataObject, mode: str, ph: int, pw: int, sh: int, sw: int,
                   scale: float, offset: float) -> None:
    feat = data.draw(floats((2, 3, 9, 11), -3, 3))
    op = ROIAlignForward(mode=mode, spatial_scale=scale, offset=offset, pooled_height=ph,
                         pooled_width=pw, sample_height=sh, sample_width=sw)
    assert_backends_agree(op, feat, data.draw(rois(2)))


@SETTINGS
@given(data=st.data(), mode=st.sampled_from(["MAX", "AVERAGE"]), ph=st.integers(1, 4),
       pw=st.integers(1, 4), scale=st.sampled_from([1.0, 0.5, 0.37]))
def test_roi_pooling(data: st.DataObject, mode: str, ph: int, pw: int, scale: float) -> None:
    feat = data.draw(floats((2, 3, 9, 11), -3, 3))
    op = ROIPoolingForward(mode=mode, scale=scale, dsize=(ph, pw))
    assert_backends_agree(op, feat, data.draw(rois(2)))


@SETTINGS
@given(data=st.data(), no_trans=st.booleans(), spp=st.integers(1, 4), part=st.integers(1, 2),
       scale=st.sampled_from([1.0, 0.5, 1.3]), std=st.sampled_from([0.1, 1.0]))
def test_deformable_psroi_pooling(data: st.DataObject, no_trans: bool, spp: int, part: int,
                                  scale: float, std: float) -> None:
    feat = data.draw(floats((2, 3, 9, 11), -3, 3))
    r = data.draw(rois(2))
    if not len(r):
        r = np.array([[0, 1, 1, 5, 6]], np.float32)
    trans = data.draw(floats((len(r), 2, 3, 2), -1, 1))
    op = DeformablePSROIPoolingForward(no_trans=no_trans, spatial_scale=scale, trans_std=std,
                                       pooled_h=3, pooled_w=2, part_size=part,
                                       sample_per_part=spp)
    assert_backends_agree(op, feat, r, trans)


@SETTINGS
@given(data=st.data(), kernel=st.sampled_from([1, 3]), disp=st.integers(0, 3),
       stride1=st.integers(1, 2), stride2=st.integers(1, 2), pad=st.integers(0, 3),
       mul=st.booleans())
def test_correlation(data: st.DataObject, kernel: int, disp: int, stride1: int, stride2: int,
                     pad: int, mul: bool) -> None:
    a, b = data.draw(floats((1, 2, 8, 9), -2, 2)), data.draw(floats((1, 2, 8, 9), -2, 2))
    op = CorrelationForward(kernel_size=kernel, max_displacement=disp, stride1=stride1,
                            stride2=stride2, pad_size=pad, is_multiply=mul)
    assert_backends_agree(op, a, b)


def images(shape: tuple[int, ...], dtype: str) -> st.SearchStrategy[np.ndarray]:
    if dtype == "uint8":
        return hnp.arrays(np.uint8, shape)
    return floats(shape, -2, 2)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(["float32", "uint8"]),
       layout=st.sampled_from([("NHWC", 1), ("NHWC", 3), ("NHWC", 4), ("NCHW", 2)]),
       bmode=st.sampled_from(BORDERS), nearest=st.booleans())
def test_warp_affine(data: st.DataObject, dtype: str, layout: tuple[str, int], bmode: str,
                     nearest: bool) -> None:
    fmt, c = layout
    shape = (2, 7, 9, c) if fmt == "NHWC" else (2, c, 7, 9)
    imode = "NEAREST" if nearest and fmt == "NHWC" and c < 4 else "LINEAR"
    op = WarpAffineForward(imode=imode, border_mode=bmode, border_val=5.3, format=fmt,
                           dsize=(6, 8))
    assert_backends_agree(op, data.draw(images(shape, dtype)), data.draw(floats((2, 2, 3),
                                                                                 -3, 3)))


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(["float32", "uint8"]),
       bmode=st.sampled_from(BORDERS), imode=st.sampled_from(["LINEAR", "NEAREST"]),
       fmt=st.sampled_from(["NCHW", "NHWC"]))
def test_remap(data: st.DataObject, dtype: str, bmode: str, imode: str, fmt: str) -> None:
    shape = (2, 3, 6, 7) if fmt == "NCHW" else (2, 6, 7, 3)
    op = RemapForward(imode=imode, border_type=bmode, format=fmt, scalar=2.6)
    assert_backends_agree(op, data.draw(images(shape, dtype)),
                          data.draw(floats((2, 4, 5, 2), -4, 11)))


@SETTINGS
@given(data=st.data(), mode=st.sampled_from(MODES), floating=st.booleans())
def test_cvt_color(data: st.DataObject, mode: str, floating: bool) -> None:
    floating = floating and mode in ("RGB2GRAY", "BGR2GRAY", "RGB2YUV", "YUV2RGB", "GRAY2RGB")
    shape = (1, 4, 10, PACKED[mode][0]) if mode in PACKED else (1, 12, 10, 1)
    img = data.draw(floats(shape, 0, 1) if floating else hnp.arrays(np.uint8, shape))
    assert_backends_agree(CvtColorForward(mode=mode), img)
