"""Models exported to ONNX run in onnxruntime within 1e-4 of mge.lite on the ``.mge`` they
came from: the model zoo (ResNet-18, ShuffleNetV2, MobileNetV2 built with mge), the docs'
preprocessing-in-model dump (uint8 NHWC image, warp, cast, normalize, dimshuffle) and the
three real networks of ``../shared/models``, which keep their reference top-5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.convert import from_onnx, onnx_to_mge, to_onnx
from mge.jit import trace
from mge.models import mobilenet_v2, resnet18, shufflenet_v2_x0_5, shufflenet_v2_x1_0
from mge.runtime.plan import available_plan_backends

from ....lite.running import lite_outputs

SHARED = Path(__file__).resolve().parents[5] / "shared" / "models"
LITE_BACKEND = "torch" if "torch" in available_plan_backends() else "numpy"


def lite_run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a ``.mge`` file in mge.lite (not on onnxruntime: that is what is compared)."""
    return lite_outputs(path, feeds, LITE_BACKEND)


def ort_run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def dump(net: M.Module, x: np.ndarray, path: Path, **options: object) -> None:
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data, *, net):
        return net(data)

    pred(mge.tensor(x), net=net)
    pred.dump(str(path), arg_names=["data"], output_names=["out"], **options)


def check_export(tmp_path: Path, mge_file: Path, feeds: dict[str, np.ndarray],
                 atol: float = 1e-4) -> dict[str, np.ndarray]:
    onnx_file = tmp_path / "model.onnx"
    to_onnx(str(mge_file), onnx_file)  # raises unless onnx.checker passes
    got, want = ort_run(onnx_file, feeds), lite_run(mge_file, feeds)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=atol, err_msg=name)
    return got


def _bn_statistics(net: M.Module) -> None:
    """Non-trivial BatchNorm statistics, so that their folding is exported too."""
    rng = np.random.default_rng(0)
    for _, m in net.named_modules():
        if isinstance(m, M.BatchNorm2d):
            shape = m.running_mean.shape
            m.running_mean.set_value(rng.normal(0, 0.1, shape).astype(np.float32))
            m.running_var.set_value(rng.uniform(0.5, 1.5, shape).astype(np.float32))


ZOO = {
    "resnet18": (resnet18, lambda: resnet18(input_size=32)),
    "shufflenet_v2": (shufflenet_v2_x1_0, lambda: shufflenet_v2_x0_5(input_size=32)),
    "mobilenet_v2": (mobilenet_v2, lambda: mobilenet_v2(width_mult=0.5, input_size=32)),
}


@pytest.mark.parametrize("name", list(ZOO))
@pytest.mark.parametrize("options", [{}, {"enable_fuse_conv_bias_nonlinearity": True}],
                         ids=["default", "fused"])
def test_zoo_small(tmp_path: Path, name: str, options: dict) -> None:
    net = ZOO[name][1]()
    _bn_statistics(net)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    dump(net, x, tmp_path / "m.mge", **options)
    check_export(tmp_path, tmp_path / "m.mge", {"data": x})


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_full_size(tmp_path: Path, name: str) -> None:
    net = ZOO[name][0]()
    _bn_statistics(net)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    dump(net, x, tmp_path / "m.mge", enable_fuse_conv_bias_nonlinearity=True)
    check_export(tmp_path, tmp_path / "m.mge", {"data": x})


class Preprocess(M.Module):
    """The docs' preprocessing inside the model: a uint8 HWC camera frame is warped to the
    network's input size, cast, normalized and laid out NCHW."""

    def __init__(self, mat: np.ndarray, size: int) -> None:
        super().__init__()
        self.mat = mge.tensor(mat)
        self.size = size
        self.mean = mge.tensor(np.array([103.5, 116.3, 123.7], np.float32))
        self.std = mge.tensor(np.array([57.4, 57.1, 58.4], np.float32))
        self.body = resnet18(input_size=size)

    def forward(self, image: mge.Tensor) -> mge.Tensor:
        x = F.vision.warp_perspective(image, self.mat, (self.size, self.size), format="NHWC")
        x = (x.astype("float32") - self.mean) / self.std
        return self.body(F.transpose(x, (0, 3, 1, 2)))


def test_preprocessing_in_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (1, 60, 80, 3)).astype(np.uint8)
    mat = np.array([[[0.9, 0.1, 5.0], [-0.05, 1.1, 3.0], [1e-4, 2e-4, 1.0]]], np.float32)
    dump(Preprocess(mat, 32), frame, tmp_path / "m.mge")
    check_export(tmp_path, tmp_path / "m.mge", {"data": frame})


def _reference(model: str) -> dict:
    with open(SHARED / "reference" / "reference.json") as f:
        return json.load(f)["models"][f"{model}.onnx"]["results"]


REAL = {"mobilenet_v1_0.25_128": 128, "mobilenet_v2_1.0_224_dq": 224,
        "mobilenet_v3_small_1.0_224_dq": 224}


@pytest.mark.parametrize("model", list(REAL))
def test_real_models_keep_their_top5(tmp_path: Path, model: str) -> None:
    if not (SHARED / f"{model}.onnx").exists():
        pytest.skip("../shared/models is not available")
    mge_file = tmp_path / "model.mge"
    onnx_to_mge(str(SHARED / f"{model}.onnx"), str(mge_file))
    for image in ("cat", "chelsea"):
        x = np.load(SHARED / "reference" / f"{image}_{REAL[model]}.npy")
        got = check_export(tmp_path, mge_file, {"input": x})
        logits = np.load(SHARED / "reference" / f"{model}__{image}_logits.npy")
        np.testing.assert_allclose(got["logits"], logits, atol=1e-4)
        want = [t["index"] for t in _reference(model)[image]["top5"]]
        top5 = list(np.argsort(-got["probs"][0])[:5])
        if model.startswith("mobilenet_v1"):  # near ties: compare as a set (README)
            assert set(top5) == set(want)
        else:
            assert top5 == want


def test_traced_module_of_an_imported_model(tmp_path: Path) -> None:
    """ONNX -> TracedModule -> ONNX with the importer's names; numerics of the original."""
    source = SHARED / "mobilenet_v3_small_1.0_224_dq.onnx"
    if not source.exists():
        pytest.skip("../shared/models is not available")
    x = np.load(SHARED / "reference" / "chelsea_224.npy")
    to_onnx(from_onnx(str(source)), tmp_path / "again.onnx", opset=14)
    got, want = ort_run(tmp_path / "again.onnx", {"input": x}), ort_run(source, {"input": x})
    assert list(got) == list(want) == ["probs", "logits"]
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-4)
