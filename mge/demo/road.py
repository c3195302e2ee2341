"""The demo's steps, each a function: import -> TracedModule -> optimize -> dump (with
test cases) -> ``load_and_run`` -> ``mge.lite``, plus the onnxruntime reference.

Example:
    >>> source = import_onnx(MOBILENET_V1)  # doctest: +SKIP
    >>> traced = to_traced_module(source.network, crop_bgr)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import jit
from .. import traced_module as tm
from ..lite import LiteNetwork
from ..module import Module
from ..tensor import Tensor
from ..tools import load_and_run
from ..utils.atomic_file import atomic_write
from .model import ImageClassifier

#: the passes the demo runs (MegEngine's ``tm.optimize`` names)
OPTIMIZE_PASSES = ["FuseConvBn", "FuseAddMul", "BackwardFoldScale"]
INPUT_NAME = "data"
OUTPUT_NAMES = ["probs", "logits"]


@dataclass
class Classifier:
    """A float32 RGB NCHW classifier the demo starts from."""

    network: Module
    size: int             # its input is [1, 3, size, size]
    name: str             # file stem of the dumped models
    onnx_path: Path | None = None


def import_onnx(path: str | os.PathLike[str]) -> Classifier:
    """``mge.convert.from_onnx(path, trace=False)``; the model must take one image
    ``[N, 3, S, S]``.

    Raises:
        ValueError: the model's inputs are not one square 3-channel NCHW image.
    """
    from ..convert import from_onnx

    network = from_onnx(os.fspath(path), trace=False)
    shapes = [shape for shape, _ in network.input_specs]
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][1] != 3 \
            or shapes[0][2] != shapes[0][3] or not isinstance(shapes[0][3], int):
        raise ValueError(f"{os.fspath(path)}: the demo needs a classifier with one image input "
                         f"[N, 3, S, S]; this model's inputs have shapes {shapes}")
    return Classifier(network, shapes[0][3], Path(path).stem, Path(path))


def zoo_resnet18() -> Classifier:
    """``mge.models.resnet18`` with seeded random weights (its classes mean nothing)."""
    from .. import random
    from ..models import resnet18

    random.seed(0)
    network = resnet18()
    network.eval()
    return Classifier(network, 224, "resnet18")


def to_traced_module(network: Module, image: np.ndarray) -> tm.TracedModule:
    """``tm.trace_module`` of :class:`ImageClassifier` around ``network`` on ``image``
    (uint8 BGR ``[1, S, S, 3]``)."""
    return tm.trace_module(ImageClassifier(network), Tensor(image))


def optimize(traced: tm.TracedModule) -> tm.TracedModule:
    """``tm.optimize`` with :data:`OPTIMIZE_PASSES`."""
    return tm.optimize(traced, enabled_pass=OPTIMIZE_PASSES)


@dataclass
class Dumped:
    """The files :func:`dump` wrote and what the traced function returned."""

    model: Path
    testcases: Path
    nr_opr: int
    expect: list[np.ndarray]   # (probs, logits) on the photo, eagerly


def dump(traced: tm.TracedModule, image: np.ndarray, out_dir: Path, name: str) -> Dumped:
    """``jit.trace`` the model and dump it twice into ``out_dir``: ``<name>.mge`` and
    ``<name>_testcases.mge`` with two test cases (a random image; ``<name>_input.png``, the
    photo's crop, written here)."""
    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data: Tensor, *, net: tm.TracedModule) -> Any:
        return net(data)

    expect = [t.numpy() for t in infer(Tensor(image), net=traced)]
    options: dict[str, Any] = dict(arg_names=[INPUT_NAME], output_names=OUTPUT_NAMES,
                                   optimize_for_inference=True,
                                   enable_fuse_conv_bias_nonlinearity=True)
    model = out_dir / f"{name}.mge"
    result = infer.dump(str(model), **options)
    photo = out_dir / f"{name}_input.png"
    with atomic_write(photo) as f:
        Image.fromarray(image[0, :, :, ::-1]).save(f, format="PNG")   # BGR -> RGB
    testcases = out_dir / f"{name}_testcases.mge"
    infer.dump(str(testcases), input_data=["#rand(0,255)", f"{INPUT_NAME}:{photo}"],
               silent=True, **options)
    return Dumped(model, testcases, result.nr_opr, expect)


def check_with_load_and_run(path: Path) -> tuple[int, list[str]]:
    """Run ``load_and_run path --iter 1``; its exit status and its test-case verdict lines
    (all of its output when it fails)."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        code = load_and_run.main([str(path), "--iter", "1"])
    lines = captured.getvalue().splitlines()
    return code, lines if code else [line for line in lines if line.startswith("testcase #")]


@dataclass
class LiteRun:
    """``mge.lite``'s outputs on the photo and its timings."""

    outputs: dict[str, np.ndarray]
    load_ms: float
    median_ms: float
    backend: str


def run_lite(path: Path, image: np.ndarray, iters: int) -> LiteRun:
    """Load ``path`` in ``mge.lite``, feed ``image``, run ``iters`` times (at least once)."""
    network = LiteNetwork()
    start = time.perf_counter()
    network.load(str(path))
    load_ms = 1e3 * (time.perf_counter() - start)
    network.get_io_tensor(INPUT_NAME).set_data_by_copy(image)
    times = []
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        network.forward()
        network.wait()
        times.append(1e3 * (time.perf_counter() - start))
    outputs = {name: network.get_io_tensor(name).to_numpy()
               for name in network.get_all_output_name()}
    return LiteRun(outputs, load_ms, statistics.median(times), network.plan.backend.name)


def run_onnxruntime(path: Path, data: np.ndarray) -> np.ndarray:
    """The ONNX model's last output (its logits) from onnxruntime (CPU) on float ``data``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: data})[-1]


__all__ = ["Classifier", "Dumped", "LiteRun", "check_with_load_and_run", "dump", "import_onnx",
           "optimize", "run_lite", "run_onnxruntime", "to_traced_module", "zoo_resnet18"]
