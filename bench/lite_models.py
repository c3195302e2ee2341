"""The models of ``bench/lite.py``, written once to a work directory with the same weights
for every engine: a ``.mge`` per batch size (mge dumps, read by mge.lite and by real
MegEngine Lite), an ONNX file (onnxruntime) and a PyTorch twin.

* ``resnet18``, ``shufflenet_v2``, ``mobilenet_v2``: ``mge.models`` with seeded random
  weights; the twins of ``torch_twins`` get the same state dict and export the ONNX file;
  where the oracle venv exists, MegEngine 1.13 dumps the same model file with the same
  weights itself, for the MegEngine Lite peer.
* ``mobilenet_v2_real``, ``mobilenet_v3_small_real``, ``mobilenet_v1_025_real``: the real
  models of ``../shared/models`` (MobileNetV2 1.0 and MobileNetV3-Small at 224x224,
  MobileNetV1 0.25 at 128x128) with their batch dimension made symbolic (input and outputs
  ``N``, the final Reshape to ``[-1, 1001]``); mge imports them with
  ``mge.convert.from_onnx``; the PyTorch peer runs their nodes eagerly
  (``torch_twins.OnnxTwin``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ORACLE = BENCH.parent / ".oracle" / "bin" / "python"
MODEL_SOURCES = BENCH.parent / "mge" / "models"
#: ../shared (``MGE_SHARED`` names another place, e.g. for a worktree elsewhere)
SHARED = Path(os.environ.get("MGE_SHARED", BENCH.parents[1] / "shared"))
#: the real models: name -> (file in ../shared/models, input side)
REAL_MODELS = {"mobilenet_v2_real": ("mobilenet_v2_1.0_224_dq.onnx", 224),
               "mobilenet_v3_small_real": ("mobilenet_v3_small_1.0_224_dq.onnx", 224),
               "mobilenet_v1_025_real": ("mobilenet_v1_0.25_128.onnx", 128)}
MODELS = ("resnet18", "shufflenet_v2", "mobilenet_v2", *REAL_MODELS)
DUMP_OPTIONS = {"enable_fuse_conv_bias_nonlinearity": True}


@dataclasses.dataclass
class BenchModel:
    """Files of one model: ``mge[batch]`` paths, the ONNX path, the twin's factory, and
    ``megengine[batch]``: the ``.mge`` real MegEngine Lite runs (MegEngine's own dump of the
    same model and weights where it can make one, else mge's)."""

    name: str
    mge: dict[int, str]
    onnx: str
    twin: Callable[[], object]
    output: str
    megengine: dict[int, str]
    size: int = 224


def _dump(net: object, batch: int, path: str, output_names: list[str], size: int = 224
          ) -> None:
    import mge
    from mge.jit import trace

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor, *, net: object) -> object:
        return net(data)

    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    pred(mge.tensor(x), net=net)
    pred.dump(path, arg_names=["data"], output_names=output_names, **DUMP_OPTIONS)


def _zoo_model(name: str, workdir: str, batches: list[int]) -> BenchModel:
    import torch
    from torch_twins import MobileNetV2, ResNet18, ShuffleNetV2, load_from_mge

    import mge
    from mge import models

    ctor, twin_cls, source = {
        "resnet18": (models.resnet18, ResNet18, "resnet"),
        "shufflenet_v2": (models.shufflenet_v2_x1_0, ShuffleNetV2, "shufflenet_v2"),
        "mobilenet_v2": (models.mobilenet_v2, MobileNetV2, "mobilenet_v2")}[name]
    weights = os.path.join(workdir, f"{name}.pt")
    onnx_path = os.path.join(workdir, f"{name}.onnx")
    state = os.path.join(workdir, f"{name}_state.npz")
    paths = {b: os.path.join(workdir, f"{name}_b{b}.mge") for b in batches}
    if not all(os.path.exists(p) for p in [weights, onnx_path, state, *paths.values()]):
        mge.random.seed(0)
        net = ctor()
        net.eval()
        twin = load_from_mge(twin_cls(), net.state_dict())
        torch.save(twin.state_dict(), weights)
        torch.onnx.export(twin, (torch.zeros(1, 3, 224, 224),), onnx_path, dynamo=False,
                          input_names=["data"], output_names=["logits"],
                          dynamic_axes={"data": {0: "N"}, "logits": {0: "N"}})
        for b, path in paths.items():
            _dump(net, b, path, ["logits"])
        np.savez(state, **{k: np.asarray(v) for k, v in net.state_dict().items()})
    theirs = {b: os.path.join(workdir, f"{name}_b{b}.megengine.mge") for b in batches}
    for b, path in theirs.items():
        if ORACLE.exists() and not os.path.exists(path):
            subprocess.run([str(ORACLE), str(BENCH / "lite_oracle.py"), "--dump",
                            str(MODEL_SOURCES / f"{source}.py"), ctor.__name__, state, str(b),
                            path],
                           check=True, capture_output=True)

    def make_twin() -> object:
        twin = twin_cls()
        twin.load_state_dict(torch.load(weights))
        return twin.eval()

    megengine = {b: p if os.path.exists(p) else paths[b] for b, p in theirs.items()}
    return BenchModel(name, paths, onnx_path, make_twin, "logits", megengine)


def real_onnx(name: str, workdir: str) -> str:
    """The ONNX file of real model ``name`` (``../shared/models``) with its batch dim made
    symbolic (inputs and outputs ``N``, the final Reshape to ``[-1, classes]``), written
    once into ``workdir``; returns its path."""
    import onnx
    from onnx import numpy_helper

    onnx_path = os.path.join(workdir, f"{name}.onnx")
    if not os.path.exists(onnx_path):
        source, _ = REAL_MODELS[name]
        model = onnx.load(str(SHARED / "models" / source))
        for value in [*model.graph.input, *model.graph.output]:
            value.type.tensor_type.shape.dim[0].dim_param = "N"
        reshapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
        for k, init in enumerate(model.graph.initializer):
            if init.name in reshapes:
                shape = numpy_helper.to_array(init).copy()
                shape[0] = -1
                model.graph.initializer[k].CopyFrom(numpy_helper.from_array(shape, init.name))
        onnx.save(model, onnx_path)
    return onnx_path


def _real_model(name: str, workdir: str, batches: list[int]) -> BenchModel:
    _, size = REAL_MODELS[name]
    onnx_path = real_onnx(name, workdir)
    paths = {b: os.path.join(workdir, f"{name}_b{b}.mge") for b in batches}
    missing = [b for b, p in paths.items() if not os.path.exists(p)]
    if missing:
        from mge.convert import from_onnx

        net = from_onnx(onnx_path)
        for b in missing:
            _dump(net, b, paths[b], ["probs", "logits"], size)

    def make_twin() -> object:
        from torch_twins import OnnxTwin

        return OnnxTwin(onnx_path).eval()

    return BenchModel(name, paths, onnx_path, make_twin, "logits", paths, size)


def prepare(name: str, workdir: str, batches: list[int]) -> BenchModel:
    """Write (once) and describe the files of model ``name`` in ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    if name in REAL_MODELS:
        return _real_model(name, workdir, batches)
    return _zoo_model(name, workdir, batches)


def real_images(size: int = 224) -> dict[str, np.ndarray]:
    """The photos of ``../shared/images`` preprocessed as the shared models' README says
    (shorter side to ``size`` bilinear, centre crop, ``x / 127.5 - 1``, NCHW float32)."""
    from PIL import Image

    out = {}
    for path in sorted((SHARED / "images").iterdir()):
        img = Image.open(path).convert("RGB")
        w, h = img.size
        scale = size / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                         Image.BILINEAR)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        arr = np.asarray(img.crop((left, top, left + size, top + size)), np.float32)
        out[path.stem] = (arr / 127.5 - 1).transpose(2, 0, 1)[None].copy()
    return out


__all__ = ["MODELS", "REAL_MODELS", "BenchModel", "prepare", "real_images"]
