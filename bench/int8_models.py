"""The models of ``bench/int8.py``: an int8 ``.mge`` and the float ``.mge`` of the same net
per batch size, written once to a work directory.

* ``resnet18``: real MegEngine 1.13's own PTQ dumps (``tools/oracle/make_int8.py``, seeded
  random weights), made with the oracle when it is linked;
* ``mobilenet_v2_real``: the real MobileNetV2 of ``../shared/models`` through mge's PTQ
  road (cross-layer equalization, histogram calibration on 32 crops of the shared photos,
  ``quantize``, bias correction), dumped by mge (the file real MegEngine Lite runs bit
  for bit, ``tests/quantization/test_ptq_mobilenet.py``);
* ``mobilenet_v2_qhead``: the same PTQ with the head quantized too (the average pool and
  the 1x1 classifier in int8, logits dequantized at the end), as onnxruntime's
  ``quantize_static`` quantizes the QDQ peer's head (``bench/int8.py``): then both engines
  run the same int8 graph, where ``mobilenet_v2_real`` keeps its classifier in float.
  Faster at batch 1 (no float32 GEMV over the classifier's 5 MB), but top-1 agrees with
  the float net on fewer of ``bench/int8_ptq.py``'s 200 crops (exact numpy kernels: 180
  against ``mobilenet_v2_real``'s 189): not ``bench/int8.py``'s default.

The zoo-style ``mge.models.mobilenet_v2`` is not here: its ``relu6`` blocks have no
quantized module (MegEngine's quantization example uses its own ReLU MobileNetV2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ORACLE = ROOT / ".oracle" / "bin" / "python"
MODELS = ("resnet18", "mobilenet_v2_real", "mobilenet_v2_qhead")


def paths(workdir: Path, model: str, batch: int) -> tuple[Path, Path]:
    """``(int8 .mge, float .mge)`` of ``model`` at ``batch`` in ``workdir``."""
    suffix = "" if batch == 1 else f"_b{batch}"
    return workdir / f"int8_{model}{suffix}.mge", workdir / f"float_{model}{suffix}.mge"


def _oracle_resnet18(workdir: Path, batch: int) -> None:
    if not ORACLE.exists():
        raise SystemExit(f"bench/int8.py: {paths(workdir, 'resnet18', batch)[0]} is missing "
                         "and the oracle (.oracle) that makes it is not linked")
    subprocess.run([str(ORACLE), str(ROOT / "tools" / "oracle" / "make_int8.py"), "--out",
                    str(workdir), "--model", "resnet18", "--batch", str(batch)],
                   check=True, env={**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0"})


def _quantized_head(path: str):  # noqa: ANN202
    """The float :class:`OnnxConvNet` of ``path`` whose average pool and classifier are
    quantized with the rest (the pool over the whole feature map, its size read by ONNX
    shape inference; the logits leave through the ``DequantStub``)."""
    import onnx

    import mge.functional as F
    from tests.quantization.convnet_from_onnx import OnnxConvNet

    class QuantizedHeadNet(OnnxConvNet):
        def __init__(self) -> None:
            super().__init__(path)
            self.classifier.disable_quantize(False)
            graph = onnx.shape_inference.infer_shapes(onnx.load(path)).graph
            info = next(v for v in graph.value_info if v.name == self.features_out)
            self.pool_size = tuple(d.dim_value for d in info.type.tensor_type.shape.dim[2:])

        def forward(self, x):  # noqa: ANN001, ANN202
            pooled = F.avg_pool2d(self.features(x), self.pool_size)
            return F.flatten(self.dequant(self.classifier(pooled)), 1)

    return QuantizedHeadNet()


def _mge_mobilenet_v2(workdir: Path, model: str, batches: list[int]) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.int8_ptq import dump
    from tests.quantization.convnet_from_onnx import OnnxConvNet
    from tests.quantization.mobilenet_ptq import MODEL, photos, ptq, random_crops

    net = _quantized_head(str(MODEL)) if model == "mobilenet_v2_qhead" else \
        OnnxConvNet(str(MODEL))
    net.eval()
    calib = np.concatenate(list(random_crops(photos(), 32, seed=1)))
    q = ptq(net, [calib[i:i + 8] for i in range(0, len(calib), 8)])
    for batch in batches:
        int8, fp32 = paths(workdir, model, batch)
        dump(q, calib[:batch], str(int8))
        dump(net, calib[:batch], str(fp32))


def prepare(workdir: Path, model: str, batches: list[int]) -> None:
    """Write the missing files of ``model`` for ``batches`` into ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    missing = [b for b in batches if not all(p.exists() for p in paths(workdir, model, b))]
    if not missing:
        return
    if model == "resnet18":
        for batch in missing:
            _oracle_resnet18(workdir, batch)
    elif model in ("mobilenet_v2_real", "mobilenet_v2_qhead"):
        _mge_mobilenet_v2(workdir, model, missing)
    else:
        raise SystemExit(f"bench/int8.py: unknown model {model!r} (have {', '.join(MODELS)})")


def one_output(path: Path) -> Path:
    """``path`` itself if its graph has one output, else a copy (``<stem>.last.mge``, made
    once) keeping only its last output: MegEngine's ResNet-18 dumps output every block
    (for layer-by-layer checks), which a speed comparison with the one-output float net
    must not pay for."""
    sys.path.insert(0, str(ROOT))
    from mge.serialization.mge_graph import dump_graph, load_graph

    last = path.with_name(f"{path.stem}.last.mge")
    if last.exists():
        return last
    graph = load_graph(path).graph
    if len(graph.outputs) == 1:
        return path
    graph.outputs = [graph.outputs[-1]]
    last.write_bytes(dump_graph(graph)[0])
    return last


def cpu_int8_units() -> str:
    """The CPU's model name and its int8 dot-product / matrix units from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines()
                  if line.startswith("flags")), set())
    units = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8"}
    have = [label for flag, label in units.items() if flag in flags]
    return f"{name}; int8 units: {', '.join(have) or 'none'}" + (
        "" if "amx_int8" in flags else " (no AMX)")
