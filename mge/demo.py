"""The mge demo: trace, optimize, dump (with test cases), verify and run a model.

Run ``python -m mge.demo`` (no downloads: a seeded ResNet-18 built in code), or
``python -m mge.demo --onnx ../shared/models/mobilenet_v2_1.0_224_dq.onnx --image
../shared/images/cat.bmp`` to classify a real photo with real weights.

Steps: build or import the model -> ``tm.trace_module`` -> ``tm.optimize`` ->
``jit.trace`` + ``dump`` with two embedded test cases -> ``load_and_run`` checks them
-> ``mge.lite`` runs the file and reports timings (and the top-5 classes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _step(title: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    print(f"  {title:<58} {1e3 * (time.perf_counter() - t0):9.1f} ms")
    return result


def preprocess(image: str, size: int) -> np.ndarray:
    """The shared models' input contract: RGB, shorter side to ``size`` (bilinear), center
    crop, ``pixel / 127.5 - 1``, NCHW float32."""
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit("demo: --image needs Pillow: pip install 'mge[dev]'") from None
    img = Image.open(image).convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                     Image.BILINEAR)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return arr.transpose(2, 0, 1)[None].copy()


def _build(args: argparse.Namespace) -> tuple[Any, np.ndarray, str]:
    import mge
    import mge.random

    if args.onnx:
        from mge.convert import from_onnx

        module = from_onnx(args.onnx, trace=False)
        (spec,) = module.input_specs
        size = spec[0][-1]
        data = preprocess(args.image, size) if args.image else \
            np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        return module, data, Path(args.onnx).stem
    from mge.models import resnet18

    mge.random.seed(0)
    net = resnet18()
    net.eval()
    data = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    return net, data, "resnet18"


def _logits(out: Any) -> Any:
    """The classifier's logits: the shared ONNX models return ``(probs, logits)``."""
    return out[-1] if isinstance(out, (tuple, list)) else out


def _labels(onnx_path: str | None) -> list[str] | None:
    if onnx_path is None:
        return None
    path = Path(onnx_path).with_name("imagenet_labels_1001.txt")
    return path.read_text().splitlines() if path.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mge.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", help="an ONNX classifier to import instead of ResNet-18")
    parser.add_argument("--image", help="an image to classify (with --onnx)")
    parser.add_argument("--out", help="directory for the dumped files (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=10, help="timed Lite runs (default 10)")
    args = parser.parse_args(argv)
    if args.image and not args.onnx:
        parser.error("--image needs --onnx (a real model with real weights)")
    for path in (args.onnx, args.image):
        if path and not Path(path).is_file():
            parser.error(f"no such file: {path}")

    import mge
    import mge.traced_module as tm
    from mge import jit
    from mge.lite import LiteNetwork
    from mge.tools import load_and_run

    out_dir = Path(args.out or tempfile.mkdtemp(prefix="mge_demo_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"mge {mge.__version__} demo (backends: {', '.join(mge.available_backends())})")
    module, data, name = _step("build / import the model", lambda: _build(args))
    x = mge.tensor(data)
    traced = _step("tm.trace_module", lambda: tm.trace_module(module, x))
    traced = _step("tm.optimize (FuseConvBn, FuseAddMul, BackwardFoldScale)",
                   lambda: tm.optimize(traced, ["FuseConvBn", "FuseAddMul",
                                                "BackwardFoldScale"]))

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data: Any, *, net: Any) -> Any:
        return _logits(net(data))

    expect = _step("jit.trace", lambda: infer(x, net=traced)).numpy()
    np.save(out_dir / "input.npy", data)
    model_path = out_dir / f"{name}.mge"
    result = _step("dump the model (.mge, FBS_V2)", lambda: infer.dump(
        str(model_path), arg_names=["data"], optimize_for_inference=True,
        enable_fuse_conv_bias_nonlinearity=True))
    print(f"    -> {model_path} ({model_path.stat().st_size / 1e6:.1f} MB, {result.nr_opr} ops)")
    case_path = out_dir / f"{name}_testcases.mge"
    _step("dump with 2 test cases (random, real input)", lambda: infer.dump(
        str(case_path), arg_names=["data"], optimize_for_inference=True,
        enable_fuse_conv_bias_nonlinearity=True,
        input_data=["#rand(-1,1)", f"data:{out_dir / 'input.npy'}"], silent=True))
    print(f"    -> {case_path}")
    code = _step("load_and_run checks the test cases",
                 lambda: load_and_run.main([str(case_path), "--iter", "1"]))
    if code != 0:
        print("demo: load_and_run reported a failed test case", file=sys.stderr)
        return 1

    network = LiteNetwork()
    _step("mge.lite load", lambda: network.load(str(model_path)))
    network.get_io_tensor("data").set_data_by_copy(data)
    out_name = network.get_all_output_name()[0]
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        network.forward()
        network.wait()
        times.append(1e3 * (time.perf_counter() - t0))
    got = network.get_io_tensor(out_name).to_numpy()
    print(f"  mge.lite forward: median {statistics.median(times):.1f} ms over {args.iters} runs; "
          f"max |lite - eager| = {np.abs(got - expect).max():.2e}")
    labels = _labels(args.onnx)
    logits = got.reshape(-1).astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    print("top-5:" if args.onnx else "top-5 (random weights, so the classes mean nothing):")
    for k in np.argsort(-logits)[:5]:
        label = labels[k] if labels else f"class {k}"
        print(f"  {k:5d}  {label:<32} p={probs[k]:.4f}  logit={logits[k]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
