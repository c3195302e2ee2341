"""Real pretrained weights end to end: ONNX -> mge -> .mge -> mge.lite on every backend.

Tolerances: logits within 1e-4 (max abs) of onnxruntime's reference on the stored
preprocessed inputs; exact top-5 order for V2/V3; for V1 0.25 (adjacent logits only
0.0023 apart, see ../shared/models/README.md) the top-5 as a set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
from mge import jit
from mge.convert import from_onnx
from mge.demo import preprocess
from mge.runtime.plan import available_plan_backends
from tests.oracle import requires_oracle, run_in_megengine

from ..lite.running import lite_outputs
from .shared_data import CATS, IMAGES, MODELS, REFERENCE, SIZES, reference_top5, requires_shared

pytestmark = requires_shared


@pytest.fixture(scope="module", params=sorted(SIZES))
def dumped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    stem = request.param
    size = SIZES[stem]
    net = from_onnx(str(MODELS / f"{stem}.onnx"))
    example = np.load(REFERENCE / f"cat_{size}.npy")

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data, *, net):  # noqa: ANN001, ANN202
        return net(data)[-1]

    infer(mge.tensor(example), net=net)
    path = tmp_path_factory.mktemp(stem) / f"{stem}.mge"
    infer.dump(str(path), arg_names=["data"], optimize_for_inference=True,
               enable_fuse_conv_bias_nonlinearity=True)
    return stem, size, path


def _run(path: Path, data: np.ndarray, backend: str) -> np.ndarray:
    (logits,) = lite_outputs(path, {"data": data}, backend).values()
    return logits


def _check_top5(stem: str, logits: np.ndarray, expected: list[int]) -> None:
    got = list(np.argsort(-logits.reshape(-1))[:5])
    if stem.startswith("mobilenet_v1"):
        assert set(got) == set(expected), (got, expected)
    else:
        assert got == expected, (got, expected)


@pytest.mark.parametrize("backend", available_plan_backends())
@pytest.mark.parametrize("image", ["chelsea", "cat"])
def test_reference_logits_and_top5(dumped: tuple, image: str, backend: str) -> None:
    stem, size, path = dumped
    logits = _run(path, np.load(REFERENCE / f"{image}_{size}.npy"), backend)
    ref = np.load(REFERENCE / f"{stem}__{image}_logits.npy")
    np.testing.assert_allclose(logits, ref, atol=1e-4, rtol=0)
    _check_top5(stem, logits, reference_top5(stem, image))
    assert int(np.argmax(logits)) in CATS


def test_every_image_keeps_the_reference_top5(dumped: tuple) -> None:
    """All three photos, preprocessed by mge.demo.preprocess (the reference recipe)."""
    stem, size, path = dumped
    for image in sorted(IMAGES.iterdir()):
        logits = _run(path, preprocess(str(image), size), "auto")
        _check_top5(stem, logits, reference_top5(stem, image.stem))


@requires_oracle
def test_real_megengine_runs_our_dump_of_an_imported_model(tmp_path: Path) -> None:
    """Real MegEngine 1.13 (Lite and load_graph) on mge's dump of a real ONNX model with two
    named outputs: both match mge."""
    net = from_onnx(str(MODELS / "mobilenet_v1_0.25_128.onnx"))
    x = np.load(REFERENCE / "cat_128.npy")

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data, *, net):  # noqa: ANN001, ANN202
        return net(data)

    probs, logits = (t.numpy() for t in infer(mge.tensor(x), net=net))
    path = tmp_path / "v1.mge"
    infer.dump(str(path), arg_names=["data"], output_names=["probs", "logits"],
               enable_fuse_conv_bias_nonlinearity=True)
    for runner in ("lite", "graph"):
        out = run_in_megengine(str(path), {"data": x}, runner=runner)
        np.testing.assert_allclose(out["probs"], probs, atol=1e-5)
        np.testing.assert_allclose(out["logits"], logits, atol=1e-4)
