"""Every plan backend against the numpy backend on the reference models (mge dumps) and
on the ``.mge`` files real MegEngine 1.13 wrote (tests/fixtures/megengine), whose Lite
outputs MegEngine recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.lite import LiteConfig, LiteNetwork
from mge.models import mobilenet_v2, resnet18, shufflenet_v2_x1_0
from mge.runtime.plan import available_plan_backends

from .conftest import FIXTURES, image
from .running import lite_outputs

BACKENDS = available_plan_backends()
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
PLAIN = sorted(k for k, v in MANIFEST.items() if v["container"] == "plain")


def _run(path: Path, feeds: dict[str, np.ndarray], backend: str, **config: object
         ) -> list[np.ndarray]:
    return list(lite_outputs(path, feeds, backend, **config).values())


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def _check_backends(path: Path, feeds: dict[str, np.ndarray], f16: bool = False
                    ) -> list[np.ndarray]:
    """Every backend within 1e-4 of the numpy backend (float16 outputs or ``f16``, a
    model computing in float16: 2e-2, as the torch backend may compute in bfloat16)."""
    ref = _run(path, feeds, "numpy")
    for backend in BACKENDS:
        for out, want in zip(_run(path, feeds, backend), ref, strict=True):
            assert out.dtype == want.dtype and out.shape == want.shape
            tol = 2e-2 if f16 or out.dtype == np.float16 else 1e-4
            assert _rel(out, want) <= tol, backend
    return ref


#: the reference models and the input size they run at here (ResNet-18 pools 7x7)
MODELS: dict[str, tuple[Callable[[], mge.module.Module], int]] = {
    "resnet18": (resnet18, 224),
    "shufflenet_v2": (lambda: shufflenet_v2_x1_0(input_size=64), 64),
    "mobilenet_v2": (lambda: mobilenet_v2(input_size=64), 64),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_models_on_every_backend(name: str, make_model: Callable) -> None:
    mge.random.seed(11)
    ctor, size = MODELS[name]
    net = ctor()
    net.eval()
    shape = (1, 3, size, size)
    path = make_model(net, shape, enable_fuse_conv_bias_nonlinearity=True)
    (ref,) = _check_backends(path, {"data": image(shape, 5)})
    eager = net(mge.tensor(image(shape, 5))).numpy()
    assert _rel(ref, eager) <= 1e-4


@pytest.mark.parametrize("name", PLAIN)
def test_megengine_files_on_every_backend(name: str) -> None:
    spec = MANIFEST[name]
    data = np.load(FIXTURES / spec["npz"])
    feeds = {i["name"]: data[f"input/{i['name']}"] for i in spec["inputs"]}
    io16 = spec["dump_options"].get("enable_io16xc32") or spec["dump_options"].get(
        "enable_ioc16")
    outputs = _check_backends(FIXTURES / spec["file"], feeds, f16=bool(io16))
    for out, meta in zip(outputs, spec["outputs"], strict=True):
        megengine = data[f"lite/{meta['name']}"]
        assert out.dtype == np.dtype(meta["dtype"])  # float32 IO for io16 dumps, as Lite
        assert _rel(out, megengine) <= (2e-3 if io16 else 1e-5), name


@pytest.mark.parametrize("name", ["convnet_ioc16", "convnet_io16xc32"])
def test_float16_files_compute_fast_and_close(name: str) -> None:
    """ioc16 computes in the CPU's 16-bit type (or float32) on torch, io16xc32 in float32;
    both take and return float32, as real MegEngine Lite 1.13 reports their IO (the file's
    input is float32, a TypeCvt follows)."""
    if "torch" not in BACKENDS:
        pytest.skip("torch backend not installed")
    spec = MANIFEST[name]
    data = np.load(FIXTURES / spec["npz"])
    network = LiteNetwork(LiteConfig())
    network.config.plan_backend = "torch"
    network.load(str(FIXTURES / spec["file"]))
    assert network.plan.options.compute_dtype in ("float32", "bfloat16", "float16")
    tensor = network.get_io_tensor("data")
    assert tensor.layout.dtype is np.float32
    tensor.set_data_by_share(data["input/data"].astype(np.float32))
    network.forward()
    network.wait()
    out = network.get_io_tensor(network.get_output_name(0)).to_numpy()
    assert out.dtype == np.float32
    assert _rel(out, data[f"lite/{spec['outputs'][0]['name']}"]) <= 2e-2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_full_size_models_and_reduced_precision(name: str, make_model: Callable) -> None:
    mge.random.seed(11)
    net = {"shufflenet_v2": shufflenet_v2_x1_0, "mobilenet_v2": mobilenet_v2,
           "resnet18": resnet18}[name]()
    net.eval()
    path = make_model(net, (1, 3, 224, 224), enable_fuse_conv_bias_nonlinearity=True)
    x = image((1, 3, 224, 224), 2)
    (ref,) = _check_backends(path, {"data": x})
    if "torch" in BACKENDS:
        (low,) = _run(path, {"data": x}, "torch", compute_dtype="bfloat16")
        assert _rel(low, ref) <= 5e-2 and low.argmax() == ref.argmax()
