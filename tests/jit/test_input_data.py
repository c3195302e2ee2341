"""Input-data specs (MegEngine's ``input_data`` / ``-d``): parsing, random data, files,
images laid out like MegEngine's dump reads them (checked against OpenCV with the oracle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mge.jit.input_data import (
    InputDataError,
    ReadOptions,
    bgr_to_gray,
    expand_specs,
    image_to_input,
    rand_data,
    read_case,
    read_file,
    read_image,
    split_case,
)
from tests.oracle import oracle_python, requires_oracle

F32 = np.dtype("float32")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:  # noqa: ANN001
    """png/bmp/jpg/ppm color images, a gray png and a 16-bit png."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rgb = (rng.random((13, 17, 3)) * 255).astype(np.uint8)
    for name in ("c.png", "c.bmp", "c.ppm"):
        Image.fromarray(rgb).save(root / name)
    yy, xx = np.mgrid[0:13, 0:17]
    smooth = np.stack([xx * 9, yy * 11, (xx + yy) * 5], -1).astype(np.uint8)
    Image.fromarray(smooth).save(root / "c.jpg", quality=95)
    Image.fromarray(rgb[:, :, 0]).save(root / "g.png")
    Image.fromarray((rng.random((6, 5)) * 65535).astype(np.uint16)).save(root / "g16.png")
    np.save(root / "rgb.npy", rgb)
    return root


def test_split_case_forms() -> None:
    assert split_case("a.png", ["x"]) == {"x": "a.png"}
    assert split_case("#rand(0,1)", ["x", "y"]) == {"x": "#rand(0,1)", "y": "#rand(0,1)"}
    assert split_case("y:b.npy; x:#rand(0,1)", ["x", "y"]) == {"x": "#rand(0,1)", "y": "b.npy"}
    for spec, message in [("a.npy", "no input name"), ("x:a;x:b", "twice"),
                          ("x:a", "no data for input.*y"), ("x:", "bad data spec")]:
        with pytest.raises(InputDataError, match=message):
            split_case(spec, ["x", "y"])


def test_rand_shapes() -> None:
    np.random.seed(0)
    assert rand_data("#rand(0,1)", (2, 3)).shape == (2, 3)
    assert rand_data("#rand(0, 255, 1, 3, 4, 4)", (9,)).shape == (1, 3, 4, 4)
    x = rand_data("#rand(-2,-1,5,...)", (1, 3, 2))
    assert x.shape == (5, 3, 2) and -2 <= x.min() and x.max() <= -1
    for spec in ("#rand(1)", "#rand(a,b)", "#rand(0,1,x)", "#rand(0,1,-1)", "#randn(0,1)"):
        with pytest.raises(InputDataError, match="bad random spec"):
            rand_data(spec, (1,))


def test_spec_files(tmp_path: Path) -> None:
    (tmp_path / "cases.txt").write_text("x:a.npy\n\n  \n#rand(0,1)\n")
    assert expand_specs(["#rand(0,1)", f"@{tmp_path / 'cases.txt'}"]) == [
        "#rand(0,1)", "x:a.npy", "#rand(0,1)"]
    with pytest.raises(InputDataError, match="cannot read spec file"):
        expand_specs([f"@{tmp_path / 'missing.txt'}"])


@pytest.mark.parametrize("name", ["c.png", "c.bmp", "c.ppm"])
def test_lossless_images_read_as_bgr(images: Path, name: str) -> None:
    rgb = np.load(images / "rgb.npy")
    np.testing.assert_array_equal(read_image(str(images / name)), rgb[:, :, ::-1])


def test_gray_and_16_bit_images_become_3_channels(images: Path) -> None:
    gray = read_image(str(images / "g.png"))
    assert gray.shape == (13, 17, 3) and (gray == gray[:, :, :1]).all()
    deep = read_image(str(images / "g16.png"))
    assert deep.dtype == np.uint8 and deep.shape == (6, 5, 3)


def test_image_layouts(images: Path) -> None:
    bgr = read_image(str(images / "c.png"))
    nchw = image_to_input(bgr, (1, 3, 13, 17), False, "x")
    np.testing.assert_array_equal(nchw[0], bgr.transpose(2, 0, 1))
    np.testing.assert_array_equal(image_to_input(bgr, (1, 13, 17, 3), False, "x")[0], bgr)
    assert image_to_input(bgr, (3, 13, 17), False, "x").shape == (3, 13, 17)
    gray = image_to_input(bgr, (1, 1, 13, 17), False, "x")
    np.testing.assert_array_equal(gray[0, 0], bgr_to_gray(bgr))
    assert image_to_input(bgr, (1, 3, 6, 9), True, "x").shape == (1, 3, 6, 9)
    for shape, message in [((13, 17), "cannot feed"), ((1, 5, 13, 17), "image layout")]:
        with pytest.raises(InputDataError, match=message):
            image_to_input(bgr, shape, False, "x")


def test_read_case_casts_repeats_transforms(images: Path, tmp_path: Path) -> None:
    spec = f"x:{images / 'c.png'};y:#rand(0,1)"
    inputs = {"x": ((2, 3, 13, 17), F32), "y": ((4,), np.dtype("int32"))}
    case = read_case(spec, inputs, ReadOptions(repeat=2, input_transform="data / 255.0"))
    assert case["x"].dtype == F32 and case["x"].shape == (2, 3, 13, 17)
    assert 0 <= case["x"].min() and case["x"].max() <= 1
    np.testing.assert_array_equal(case["x"][0], case["x"][1])
    assert case["y"].dtype == np.int32  # random data is cast too, never transformed
    with pytest.raises(InputDataError, match="model takes"):
        read_case(str(images / "c.png"), {"x": ((1, 3, 8, 8), F32)})
    with pytest.raises(InputDataError, match="input_transform 'open' failed"):
        read_case(str(images / "c.png"), {"x": ((1, 3, 13, 17), F32)},
                  ReadOptions(input_transform="open"))
    with pytest.raises(InputDataError, match="repeat must be >= 1"):
        read_case("#rand(0,1)", {"x": ((1,), F32)}, ReadOptions(repeat=0))


def test_read_file_errors(images: Path, tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_text("hello")
    np.savez(tmp_path / "two.npz", a=np.zeros(2))
    for path, message in [(tmp_path / "nope.npy", "no such file"),
                          (tmp_path / "junk.txt", "neither an image nor a .npy file")]:
        with pytest.raises(InputDataError, match=message):
            read_file(str(path), (1,), False, "x")
    with pytest.raises(InputDataError, match="resize_input only applies to images"):
        read_file(str(images / "rgb.npy"), (1,), True, "x")


def test_images_need_pillow(images: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(InputDataError, match="needs Pillow"):
        read_image(str(images / "c.png"))


@requires_oracle
def test_images_match_opencv(images: Path, tmp_path: Path) -> None:
    script = tmp_path / "cv.py"
    script.write_text(
        "import sys, cv2, numpy as np\n"
        "root, out = sys.argv[1], sys.argv[2]\n"
        "res = {}\n"
        "for n in ['c.png', 'c.bmp', 'c.ppm', 'c.jpg', 'g.png', 'g16.png']:\n"
        "    im = cv2.imread(root + '/' + n, cv2.IMREAD_COLOR)\n"
        "    res[n] = im\n"
        "    res[n + '/gray'] = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)\n"
        "    res[n + '/resize'] = cv2.resize(im, (7, 9))\n"
        "np.savez(out, **res)\n")
    subprocess.run([oracle_python(), str(script), str(images), str(tmp_path / "cv.npz")],
                   check=True, timeout=120)
    with np.load(tmp_path / "cv.npz") as cv:
        for name in ("c.png", "c.bmp", "c.ppm", "c.jpg", "g.png", "g16.png"):
            ours = read_image(str(images / name))
            np.testing.assert_array_equal(ours, cv[name], err_msg=name)
            np.testing.assert_array_equal(bgr_to_gray(ours), cv[name + "/gray"])
            resized = image_to_input(ours, (1, 9, 7, 3), True, name)[0]
            assert np.abs(resized.astype(int) - cv[name + "/resize"]).max() <= 1, name
