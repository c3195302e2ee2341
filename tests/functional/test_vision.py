"""F.vision.warp_perspective / interpolate and the ResizeForward op.

Checked three ways, on every backend:
- against outputs of real MegEngine 1.13 (``tests/fixtures/vision/oracle.npz``, made by
  ``gen_oracle.py`` there): bit-exact for uint8, 1e-5 for float32;
- against slow per-pixel references below, transcribed loop by loop from MegEngine's C++
  (dnn ``warp_perspective`` / ``resize`` and the OpenCV-derived ``remap`` / ``resize_cv``);
- by properties (identity, scale matrix vs resize) and argument errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.backends import get_backend
from mge.core.apply import apply
from mge.core.opdef import OpDef, OpError, TensorInfo
from mge.jit import trace
from mge.ops.vision import ResizeForward, WarpPerspectiveForward

from ..oracle import golden_arrays, golden_cases

BORDERS = ("replicate", "reflect", "reflect_101", "wrap", "constant")
FIXTURE = Path(__file__).parent.parent / "fixtures" / "vision" / "oracle.npz"
f32 = np.float32


#: every test runs once per available backend (``tests/conftest.py``)
pytestmark = pytest.mark.usefixtures("each_backend")


def assert_output(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, what
    atol = 0 if want.dtype == np.uint8 else 1e-5
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol,
                               rtol=0, err_msg=what)


# ------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("case", golden_cases(FIXTURE), ids=lambda c: c["id"])
def test_matches_megengine(case: dict) -> None:
    arrays = golden_arrays(FIXTURE, case["id"])
    params = {k: v for k, v in case.items() if k not in ("id", "kind")}
    src = mge.tensor(arrays["src"])
    if case["kind"] == "warp":
        dsize = tuple(params.pop("dsize"))
        idx = arrays.get("idx")
        out = F.vision.warp_perspective(src, mge.tensor(arrays["mat"]), dsize, mat_idx=idx,
                                        **params)
    elif case["kind"] == "resize":
        op = ResizeForward(imode=params["imode"].upper(), format=params["format"],
                           dsize=tuple(params["dsize"]))
        (out,) = apply(op, src)
    else:
        out = F.vision.interpolate(src, **params)
    assert_output(out.numpy(), arrays["out"], case["id"])


# ------------------------------------------------------------------------- references
def real_coord(p: int, n: int, bmode: str) -> int:
    """MegEngine's get_real_coord / border_interpolate, loop for loop (-1: constant)."""
    if 0 <= p < n:
        return p
    if bmode == "REPLICATE":
        return 0 if p < 0 else n - 1
    if bmode in ("REFLECT", "REFLECT_101"):
        delta = int(bmode == "REFLECT_101")
        if n == 1:
            return 0
        while not 0 <= p < n:
            p = -p - 1 + delta if p < 0 else n - 1 - (p - n) - delta
        return p
    if bmode == "WRAP":
        if p < 0:
            p -= int((p - n + 1) / n) * n  # C division truncates
        while p >= n:
            p -= n
        return p
    return -1


def convert(x: float, dtype: np.dtype) -> float:
    """RoundingConverter: clamp to uint8 and round half away from zero."""
    if dtype != np.uint8:
        return x
    x = min(255.0, max(0.0, float(x)))
    return math.floor(x) + (1 if x - math.floor(x) >= 0.5 else 0)


def ref_warp_dnn(src, mats, dsize, bmode, bval):  # noqa: ANN001, ANN201
    """naive/warp_perspective/opr_impl.cpp kern_naive, on an NHWC source."""
    (n_mat, (oh_, ow_)), (_, h, w, c) = (len(mats), dsize), src.shape
    out = np.zeros((n_mat, oh_, ow_, c), src.dtype)
    for n, oh, ow in np.ndindex(n_mat, oh_, ow_):
        m = mats[n].astype(f32).ravel()
        den = m[6] * ow + m[7] * oh + m[8]
        aw, ah = (m[0] * ow + m[1] * oh + m[2]) / den, (m[3] * ow + m[4] * oh + m[5]) / den
        iw = [real_coord(int(np.floor(aw)) + k, w, bmode) for k in (0, 1)]
        ih = [real_coord(int(np.floor(ah)) + k, h, bmode) for k in (0, 1)]
        aw, ah = aw - np.floor(aw), ah - np.floor(ah)
        for ch in range(c):
            v = [[f32(bval) if y < 0 or x < 0 else f32(src[n, y, x, ch]) for x in iw]
                 for y in ih]
            val = (v[0][0] * (1 - aw) * (1 - ah) + v[0][1] * aw * (1 - ah)
                   + v[1][0] * (1 - aw) * ah + v[1][1] * aw * ah)
            out[n, oh, ow, ch] = convert(val, src.dtype)
    return out


def _cv_tables() -> tuple[np.ndarray, np.ndarray]:
    """interp_helper.cpp get_table(LINEAR): float and fixed-point (with OpenCV's fix-up)."""
    tab1 = [(f32(1) - f32(i) * f32(1 / 32), f32(i) * f32(1 / 32)) for i in range(32)]
    ftab = np.zeros((32, 32, 4), f32)
    itab = np.zeros(32 * 32 * 4 + 4, np.int64)  # fix-up reads past an entry: zeros
    for i, j in np.ndindex(32, 32):
        base = (i * 32 + j) * 4
        for k1, k2 in np.ndindex(2, 2):
            ftab[i, j, k1 * 2 + k2] = tab1[i][k1] * tab1[j][k2]
            itab[base + k1 * 2 + k2] = min(32767, round(float(ftab[i, j, k1 * 2 + k2]) * 32768))
        diff = int(itab[base:base + 4].sum()) - 32768
        if diff:
            big = small = 3
            for idx in (3, 4, 5, 6):
                if itab[base + idx] < itab[base + small]:
                    small = idx
                elif itab[base + idx] > itab[base + big]:
                    big = idx
            itab[base + (big if diff < 0 else small)] -= diff
    return ftab, itab[:32 * 32 * 4].reshape(32, 32, 4)


FTAB, ITAB = _cv_tables()


def ref_warp_cv(src, mats, dsize, bmode, bval, imode):  # noqa: ANN001, ANN201
    """x86 warp_perspective_cv.cpp + warp_common.h remapBilinear / remapNearest."""
    (oh_, ow_), (_, h, w, c) = dsize, src.shape
    u8 = src.dtype == np.uint8
    border = [(int(bval) & 0xFF) if u8 else f32(bval)] * c
    block_h = min(16, oh_)
    block_w = min(1024 // block_h, ow_)
    out = np.zeros((len(mats), oh_, ow_, c), src.dtype)
    for n, y, x in np.ndindex(len(mats), oh_, ow_):
        m = [float(v) for v in mats[n].ravel()]
        x0, x1 = x // block_w * block_w, x % block_w
        den = m[6] * x0 + m[7] * y + m[8] + m[6] * x1
        scale = 1 if imode == "NEAREST" else 32
        den = scale / den if den else 0
        px = round(min(2**31 - 1, max(-(2**31), (m[0] * x0 + m[1] * y + m[2] + m[0] * x1) * den)))
        py = round(min(2**31 - 1, max(-(2**31), (m[3] * x0 + m[4] * y + m[5] + m[3] * x1) * den)))
        if imode == "NEAREST":
            sx, sy = (min(32767, max(-32768, p)) for p in (px, py))
            ix, iy = real_coord(sx, w, bmode), real_coord(sy, h, bmode)
            out[n, y, x] = border if ix < 0 or iy < 0 else src[n, iy, ix]
            continue
        sx, sy = (min(32767, max(-32768, p >> 5)) for p in (px, py))
        wts = (ITAB if u8 else FTAB)[py & 31, px & 31]
        if bmode == "CONSTANT" and (sx >= w or sx + 1 < 0 or sy >= h or sy + 1 < 0):
            out[n, y, x] = border
            continue
        corners = [(real_coord(sy + dy, h, bmode), real_coord(sx + dx, w, bmode))
                   for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1))]
        for ch in range(c):
            v = [border[ch] if yy < 0 or xx < 0 else src[n, yy, xx, ch] for yy, xx in corners]
            if u8:
                total = sum(int(a) * int(b) for a, b in zip(v, wts, strict=True))
                out[n, y, x, ch] = min(255, max(0, (total + (1 << 14)) >> 15))
            else:
                out[n, y, x, ch] = ((f32(v[0]) * wts[0] + f32(v[1]) * wts[1])
                                    + f32(v[2]) * wts[2]) + f32(v[3]) * wts[3]
    return out


def _random_case(shape, dtype, seed):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(seed)
    src = (rng.integers(0, 256, shape).astype(np.uint8) if dtype == "uint8"
           else rng.uniform(-2, 2, shape).astype(f32))
    mats = np.tile(np.eye(3, dtype=f32), (shape[0], 1, 1))
    mats[:, :2, :2] += rng.uniform(-0.3, 0.6, (shape[0], 2, 2))
    mats[:, :2, 2] = rng.uniform(-3, 1, (shape[0], 2))
    mats[:, 2, :2] = rng.uniform(-0.04, 0.04, (shape[0], 2))
    return src, mats


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("bmode", BORDERS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC4", "NHWC3", "NHWC1"])
def test_warp_matches_reference(layout: str, bmode: str, dtype: str) -> None:
    channels = 3 if layout == "NCHW" else int(layout[-1])
    src, mats = _random_case((2, 5, 6, channels), dtype, seed=len(layout) + len(bmode))
    fmt = layout[:4]
    modes = ("linear", "nearest") if channels < 4 and fmt == "NHWC" else ("linear",)
    for imode in modes:
        inp = src.transpose(0, 3, 1, 2) if fmt == "NCHW" else src
        out = F.vision.warp_perspective(mge.tensor(inp), mge.tensor(mats), (4, 7),
                                        border_mode=bmode, border_val=9.6, format=fmt,
                                        interp_mode=imode).numpy()
        out = out.transpose(0, 2, 3, 1) if fmt == "NCHW" else out
        if fmt == "NHWC" and channels < 4:
            want = ref_warp_cv(src, mats, (4, 7), bmode.upper(), 9.6, imode.upper())
        else:
            want = ref_warp_dnn(src, mats, (4, 7), bmode.upper(), 9.6)
        assert_output(out, want, f"{layout} {bmode} {dtype} {imode}")


def ref_resize(src, dsize, imode, cv):  # noqa: ANN001, ANN201
    """naive/resize get_nearest_linear_coord / get_nearest_src, x86 resize_cv (NHWC src)."""
    (oh_, ow_), (n, h, w, c) = dsize, src.shape

    def linear(i: int, isize: int, osize: int) -> tuple[int, float]:
        scale = f32(osize) / f32(isize)
        if isize == 1:
            return 0, f32(0)
        alpha = (f32(i) + f32(0.5)) * (f32(1) / scale) - f32(0.5) if cv else (
            (f32(i) + f32(0.5)) / scale - f32(0.5))
        origin = math.floor(alpha)
        alpha = alpha - f32(origin)
        if origin < 0:
            return 0, f32(0)
        return (isize - 2, f32(1)) if origin + 1 >= isize else (origin, alpha)

    def nearest(i: int, isize: int, osize: int) -> int:
        if cv:
            return min(isize - 1, max(0, math.floor(i * (1.0 / (osize / isize)))))
        return min(int(f32(i) / (f32(osize) / f32(isize))), isize - 1)

    out = np.zeros((n, oh_, ow_, c), src.dtype)
    for b, oh, ow in np.ndindex(n, oh_, ow_):
        if imode == "NEAREST":
            out[b, oh, ow] = src[b, nearest(oh, h, oh_), nearest(ow, w, ow_)]
            continue
        (y, ay), (x, ax) = linear(oh, h, oh_), linear(ow, w, ow_)
        x1, y1 = min(x + 1, w - 1), min(y + 1, h - 1)
        for ch in range(c):
            s = [[f32(src[b, yy, xx, ch]) for xx in (x, x1)] for yy in (y, y1)]
            if not cv:
                val = (s[0][0] * (1 - ay) * (1 - ax) + s[0][1] * (1 - ay) * ax
                       + s[1][0] * ay * (1 - ax) + s[1][1] * ay * ax)
                out[b, oh, ow, ch] = convert(val, src.dtype)
            elif src.dtype == np.uint8:
                rx, ry = int(ay * f32(2048)), int(ax * f32(2048))
                c0, c1 = (int(r[1]) * ry + int(r[0]) * (2048 - ry) for r in s)
                out[b, oh, ow, ch] = (rx * c1 + (2048 - rx) * c0) >> 22
            else:
                c0, c1 = (r[1] * ax + r[0] * (1 - ax) for r in s)
                out[b, oh, ow, ch] = ay * c1 + (1 - ay) * c0
    return out


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("imode", ["LINEAR", "NEAREST"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC3", "NHWC2"])
@pytest.mark.parametrize("dsize", [(7, 3), (2, 10)])
def test_resize_matches_reference(layout: str, imode: str, dtype: str, dsize: tuple) -> None:
    src, _ = _random_case((2, 4, 6, 3 if layout == "NCHW" else int(layout[-1])), dtype, 3)
    fmt = layout[:4]
    inp = src.transpose(0, 3, 1, 2) if fmt == "NCHW" else src
    (out,) = apply(ResizeForward(imode=imode, format=fmt, dsize=dsize), mge.tensor(inp))
    out = out.numpy().transpose(0, 2, 3, 1) if fmt == "NCHW" else out.numpy()
    want = ref_resize(src, dsize, imode, cv=layout == "NHWC3")
    assert_output(out, want, f"{layout} {imode} {dtype} {dsize}")


# ------------------------------------------------------------------------- properties
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("fmt, shape", [("NCHW", (2, 3, 5, 6)), ("NHWC", (2, 5, 6, 3)),
                                        ("NHWC", (2, 5, 6, 4))])
def test_identity_matrix_returns_input(fmt: str, shape: tuple, dtype: str) -> None:
    src, _ = _random_case(shape, dtype, seed=1)
    eye = np.tile(np.eye(3, dtype=f32), (shape[0], 1, 1))
    size = shape[2:] if fmt == "NCHW" else shape[1:3]
    for imode in ("linear", "nearest") if shape[-1] == 3 else ("linear",):
        out = F.vision.warp_perspective(mge.tensor(src), eye, size, format=fmt,
                                        interp_mode=imode)
        assert_output(out.numpy(), src, f"{fmt} {imode}")


@pytest.mark.parametrize("dsize", [(9, 13), (3, 4)])
def test_pixel_center_scale_matrix_reproduces_resize(dsize: tuple) -> None:
    src, _ = _random_case((2, 3, 6, 8), "float32", seed=2)
    sy, sx = 6 / dsize[0], 8 / dsize[1]
    mat = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], f32)
    warped = F.vision.warp_perspective(mge.tensor(src), np.stack([mat, mat]), dsize)
    resized = F.vision.interpolate(mge.tensor(src), size=dsize)
    np.testing.assert_allclose(warped.numpy(), resized.numpy(), atol=1e-5)


def test_interpolate_examples_and_graphs() -> None:
    x = mge.tensor(np.arange(1, 5, dtype=f32).reshape(1, 1, 2, 2))
    out = F.vision.interpolate(x, [4, 4], align_corners=False)
    np.testing.assert_allclose(out.numpy()[0, 0, 1], [1.5, 1.75, 2.25, 2.5])
    np.testing.assert_allclose(F.vision.interpolate(x, scale_factor=2.0).numpy(), out.numpy())
    corners = F.vision.interpolate(x, [3, 3], align_corners=True).numpy()[0, 0]
    np.testing.assert_allclose(corners, [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])

    def ops(fn, *args):  # noqa: ANN001, ANN202
        traced = trace(capture_as_const=True)(fn)
        traced(*args)
        skip = ("ImmutableTensor", "Host2DeviceCopy")
        return [node.op for node in traced.graph.ops() if node.op.type_name not in skip]

    *size_chain, resize = ops(lambda t: F.vision.interpolate(t, scale_factor=1.5,
                                                            mode="nearest"), x)
    assert resize == ResizeForward(imode="NEAREST", format="NCHW", dsize=(3, 3))
    # traced, the size follows the input: floor(GetVarShape[2:4] * 1.5), as in MegEngine
    assert size_chain[0].type_name == "GetVarShape"
    (warp,) = ops(lambda t: F.vision.interpolate(t, size=(4, 5), align_corners=True), x)
    assert (warp.type_name, warp.dsize, warp.bmode) == ("WarpPerspectiveForward", (4, 5),
                                                        "REPLICATE")


# ------------------------------------------------------------------------- errors
@pytest.fixture
def no_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a vision kernel runs: errors must come before."""
    kernels = get_backend().kernels
    for name in ("WarpPerspectiveForward", "ResizeForward"):
        monkeypatch.setitem(kernels, name, lambda *a: pytest.fail("kernel ran"))


@pytest.mark.usefixtures("no_kernels")
@pytest.mark.parametrize("kwargs, error, match", [
    ({"mat": np.zeros((2, 2, 3), f32)}, ValueError, r"warp_perspective: mat .*\(2, 2, 3\)"),
    ({"inp": np.zeros((3, 5, 6), f32)}, ValueError, r"warp_perspective: inp .*\(3, 5, 6\)"),
    ({"mat": np.zeros((3, 3, 3), f32)}, ValueError, r"\(2, 3, 5, 6\) and mat \(3, 3, 3\)"),
    ({"border_mode": "mirror"}, ValueError, "warp_perspective: unknown border_mode 'mirror'"),
    ({"interp_mode": "bicubic"}, ValueError, "unknown interp_mode"),
    ({"format": "NCHW4"}, ValueError, "unknown format"),
    ({"out_shape": (3,)}, TypeError, r"output size must be \(height, width\)"),
    ({"mat_idx": [0, 1, 1]}, ValueError, r"mat_idx must have shape \(2,\)"),
    ({"interp_mode": "nearest"}, OpError, "NEAREST is not supported for this src"),
    ({"border_mode": "transparent"}, OpError, "TRANSPARENT is not supported"),
])
def test_warp_perspective_errors(kwargs: dict, error: type, match: str) -> None:
    args = {"inp": np.zeros((2, 3, 5, 6), f32), "mat": np.zeros((2, 3, 3), f32),
            "out_shape": (4, 4), **kwargs}
    with pytest.raises(error, match=match):
        F.vision.warp_perspective(**args)


@pytest.mark.usefixtures("no_kernels")
@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": (3, 3), "scale_factor": 2}, ValueError, "scale_factor must be None"),
    ({}, ValueError, "scale_factor must not be None"),
    ({"size": 3, "mode": "area"}, ValueError, "unsupported interpolate mode 'area'"),
    ({"size": 3, "mode": "nearest", "align_corners": True}, ValueError, "align_corners"),
    ({"size": 3, "mode": "trilinear"}, AssertionError, r"5-d input, got shape \(2, 3, 5, 6\)"),
    ({"size": 3, "mode": "linear"}, AssertionError, r"3-d input, got shape \(2, 3, 5, 6\)"),
    ({"size": (1, 4), "align_corners": True}, ValueError, r"output size > 1 \(got \(1, 4\)\)"),
])
def test_interpolate_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        F.vision.interpolate(mge.tensor(np.zeros((2, 3, 5, 6), f32)), **kwargs)


def test_mat_idx_out_of_range() -> None:
    src = mge.tensor(np.zeros((2, 3, 5, 6), f32))
    with pytest.raises(IndexError, match=r"mat_idx values \[0, 2\] out of range"):
        F.vision.warp_perspective(src, np.zeros((2, 3, 3), f32), (4, 4), mat_idx=[0, 2])


def _info(shape: tuple, dtype: str = "float32") -> TensorInfo:
    return TensorInfo(shape, np.dtype(dtype))


@pytest.mark.parametrize("op, inputs, match", [
    (ResizeForward(dsize=(0, 3)), [_info((1, 4, 4, 3))], "dsize must be"),
    (ResizeForward(dsize=(3, 3)), [_info((1, 4, 4, 3), "int32")], "dtype int32 not supported"),
    (ResizeForward(dsize=(1, 3)), [_info((1, 4, 4, 3))], "height and width >= 2"),
    (ResizeForward(imode="CUBIC", dsize=(3, 3)), [_info((1, 4, 4, 3))], "CUBIC is not impl"),
    (ResizeForward(format="NCHW4", dsize=(3, 3)), [_info((1, 4, 4, 3))], "unknown format"),
    (ResizeForward(format="NCHW", dsize=(3, 3)), [_info((4, 4, 3))], "src must be 4-d NCHW"),
    (WarpPerspectiveForward(dsize=(3, 3)), [_info((1, 2, 4, 4)), _info((1, 3, 3), "float16")],
     "mat must be float32"),
    (WarpPerspectiveForward(dsize=(3, 3)),
     [_info((1, 2, 4, 4)), _info((2, 3, 3)), _info((2,), "int64")], "mat_idx must be int32"),
    (WarpPerspectiveForward(imode="AREA", format="NHWC", dsize=(3, 3)),
     [_info((1, 4, 4, 3)), _info((1, 3, 3))], "AREA is not supported"),
])
def test_infer_errors(op: OpDef, inputs: list, match: str) -> None:
    with pytest.raises(OpError, match=match):
        op.check_inputs(inputs)
