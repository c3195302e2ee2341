"""python -m mge.demo: the deployment road on a real classifier and a real photo.

With no arguments it uses the files shipped in mge.assets: MobileNetV1 0.25/128 (ONNX, the
published ImageNet weights) and a photo of a cat. The steps:

  1. import the ONNX model (mge.convert.from_onnx)
  2. tm.trace_module, with the preprocessing inside the model: its input is the photo's
     uint8 BGR crop (NHWC), as cv2.imread gives it
  3. tm.optimize
  4. jit.trace and dump: a .mge file, and one with two test cases
  5. load_and_run checks the test cases
  6. mge.lite runs the model on the photo
  7. onnxruntime runs the ONNX file on the same crop, for comparison

It prints each step's time, the photo's top-5 classes and where the files went: a
temporary folder, removed at the end unless --keep DIR. Exit status: 0; 1 when a check
fails (load_and_run, or onnxruntime disagrees); 2 for bad arguments or files. The default
needs the onnx extra (pip install "mge[onnx]"); --model resnet18 does not.

Example:
    $ python -m mge.demo --image my_dog.jpg --keep demo_out
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from .. import __version__, available_backends
from ..assets import CAT_PHOTO, IMAGENET_LABELS, MOBILENET_V1
from . import road
from .image import load_image

PROG = "python -m mge.demo"
T = TypeVar("T")
#: onnxruntime and mge.lite logits may differ by float32 rounding, not more
LOGIT_TOLERANCE = 1e-3


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--onnx", metavar="FILE",
                       help="an ONNX image classifier (one float32 RGB NCHW input normalized "
                            "as pixel/127.5-1; last output: logits) instead of the bundled "
                            "MobileNetV1")
    model.add_argument("--model", choices=["resnet18"],
                       help="mge.models' ResNet-18 with random weights (needs no onnx)")
    parser.add_argument("--image", metavar="FILE",
                        help="the photo to classify (default: the bundled cat photo)")
    parser.add_argument("--labels", metavar="FILE",
                        help="class names, one a line (default: the bundled ImageNet names "
                             "for 1000- or 1001-class models)")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the files into DIR and keep them (default: a temporary "
                             "folder, removed at the end)")
    parser.add_argument("--iters", type=int, default=10, metavar="N",
                        help="timed mge.lite runs (default 10)")
    return parser


class Steps:
    """Prints numbered steps with their wall time."""

    def __init__(self) -> None:
        self.count = 0

    def run(self, title: str, fn: Callable[[], T]) -> T:
        self.count += 1
        start = time.perf_counter()
        result = fn()
        elapsed = 1e3 * (time.perf_counter() - start)
        print(f"  {self.count}. {title:<62} {elapsed:8.1f} ms", flush=True)
        return result

    @staticmethod
    def detail(text: str) -> None:
        print(f"       {text}")


def _labels(path: str | None, classes: int) -> list[str] | None:
    if path:
        names = Path(path).read_text(encoding="utf-8").splitlines()
    else:
        bundled = IMAGENET_LABELS.read_text(encoding="utf-8").splitlines()
        names = {1001: bundled, 1000: bundled[1:]}.get(classes, [])
    return names if len(names) == classes else None


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits.astype(np.float64) - logits.max())
    return exp / exp.sum()


def _print_top5(photo: str, probs: np.ndarray, labels: list[str] | None,
                reference: np.ndarray | None) -> list[int]:
    """Print the five most likely classes (with onnxruntime's probabilities, from
    ``reference`` logits, beside mge.lite's); returns their indices."""
    header = f"top-5 for {photo}"
    print(f"\n{header:<51}mge.lite" + ("  onnxruntime" if reference is not None else ""))
    ref_probs = None if reference is None else _softmax(reference)
    top = [int(k) for k in np.argsort(-probs)[:5]]
    for k in top:
        name = labels[k] if labels else f"class {k}"
        name = name if len(name) <= 40 else name.split(",")[0]
        ref = "" if ref_probs is None else f"  {100 * ref_probs[k]:10.2f}%"
        print(f"  {k:5d}  {name:<40} {100 * probs[k]:6.2f}%{ref}")
    return top


def _files(out_dir: Path) -> None:
    for path in sorted(out_dir.iterdir()):
        print(f"  {path}  ({path.stat().st_size / 1e6:.2f} MB)")


def _load(args: argparse.Namespace) -> road.Classifier:
    if args.model == "resnet18":
        return road.zoo_resnet18()
    return road.import_onnx(args.onnx or MOBILENET_V1)


def run(args: argparse.Namespace, out_dir: Path) -> int:
    """The demo's steps (see the module docstring), writing into ``out_dir``."""
    photo = Path(args.image) if args.image else CAT_PHOTO
    title = ("ResNet-18 (random weights)" if args.model else
             Path(args.onnx).name if args.onnx else "MobileNetV1 0.25/128 (ImageNet weights)")
    print(f"mge {__version__} demo: {title} classifies {photo.name}")
    print(f"  model  {args.onnx or ('mge.models.resnet18' if args.model else MOBILENET_V1)}")
    print(f"  photo  {photo}")
    print(f"  files  {out_dir}")
    print(f"  eager backends: {', '.join(available_backends())}\n")
    steps = Steps()
    start = time.perf_counter()
    source = steps.run("build mge.models.resnet18 (seeded random weights)" if args.model
                       else "import the ONNX model (mge.convert.from_onnx)", lambda: _load(args))
    crop = load_image(photo, source.size)          # uint8 RGB, the reference recipe
    image = np.ascontiguousarray(crop[None, :, :, ::-1])   # the model's input: BGR NHWC
    traced = steps.run("tm.trace_module: uint8 BGR image -> preprocess -> network",
                       lambda: road.to_traced_module(source.network, image))
    traced = steps.run(f"tm.optimize ({', '.join(road.OPTIMIZE_PASSES)})",
                       lambda: road.optimize(traced))
    dumped = steps.run("jit.trace, dump the model and a test-case file",
                       lambda: road.dump(traced, image, out_dir, source.name))
    steps.detail(f"{dumped.model.name}: {dumped.model.stat().st_size / 1e6:.1f} MB, "
                 f"{dumped.nr_opr} ops, input '{road.INPUT_NAME}' uint8 {list(image.shape)} "
                 "BGR, outputs 'probs', 'logits'")
    steps.detail(f"{dumped.testcases.name}: 2 test cases (a random image, the photo)")
    code, lines = steps.run("load_and_run checks the test cases",
                            lambda: road.check_with_load_and_run(dumped.testcases))
    for line in lines:
        steps.detail(line)
    if code:
        print(f"{PROG}: load_and_run failed (exit status {code})", file=sys.stderr)
        return 1
    lite = steps.run("mge.lite: load the model, run it on the photo",
                     lambda: road.run_lite(dumped.model, image, args.iters))
    probs, logits = (lite.outputs[name].reshape(-1) for name in road.OUTPUT_NAMES)
    eager_error = max(float(np.abs(lite.outputs[name] - want).max())
                      for name, want in zip(road.OUTPUT_NAMES, dumped.expect))
    steps.detail(f"load {lite.load_ms:.1f} ms; forward median {lite.median_ms:.2f} ms over "
                 f"{args.iters} runs ({lite.backend} plan backend); "
                 f"max |lite - eager| = {eager_error:.1e}")
    reference = None
    if source.onnx_path is not None:
        reference = _onnxruntime(steps, source.onnx_path, crop, logits)
    labels = None if args.model and not args.labels else _labels(args.labels, probs.size)
    top = _print_top5(photo.name, probs, labels, reference)
    if args.model:
        print("  (random weights: the classes mean nothing)")
    if reference is not None:
        same = set(top) == {int(k) for k in np.argsort(-reference)[:5]}
        print(f"  onnxruntime's top-5: {'the same classes' if same else 'DIFFERENT classes'}")
    print(f"\ntotal {time.perf_counter() - start:.1f} s")
    return 0 if reference is None or np.abs(reference - logits).max() <= LOGIT_TOLERANCE else 1


def _onnxruntime(steps: Steps, path: Path, crop: np.ndarray, logits: np.ndarray
                 ) -> np.ndarray | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("  (onnxruntime is not installed: no reference run; pip install \"mge[onnx]\")")
        return None
    data = (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy()
    reference = steps.run("onnxruntime runs the ONNX file on the same crop (float input)",
                          lambda: road.run_onnxruntime(path, data)).reshape(-1)
    error = float(np.abs(reference - logits).max())
    verdict = "agrees" if error <= LOGIT_TOLERANCE else "DISAGREES"
    steps.detail(f"{verdict}: max |logits(onnxruntime) - logits(mge.lite)| = {error:.1e}")
    return reference


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mge.demo`` (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # onnxruntime >= 1.32 starts telemetry on import and leaves $TMPDIR/.ses behind
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    for option, path in (("--onnx", args.onnx), ("--image", args.image),
                         ("--labels", args.labels)):
        if path and not Path(path).is_file():
            parser.error(f"{option}: no such file: {path}")
    if args.iters < 1:
        parser.error(f"--iters must be at least 1, not {args.iters}")
    if args.model is None:
        try:
            import onnx  # noqa: F401
        except ImportError:
            parser.error('importing the ONNX model needs the onnx extra: pip install "mge[onnx]"'
                         " (or run --model resnet18)")
    if args.keep:
        out_dir = Path(args.keep)
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        out_dir = Path(tempfile.mkdtemp(prefix="mge_demo_"))
    try:
        code = run(args, out_dir)
    except (ValueError, OSError) as exc:       # a bad model or image file
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        code = 2
    finally:
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    if args.keep:
        print(f"\nfiles (kept in {out_dir}):")
        _files(out_dir)
    else:
        print(f"\nfiles: removed {out_dir} (--keep DIR keeps them)")
    return code


__all__ = ["build_parser", "main", "run"]
