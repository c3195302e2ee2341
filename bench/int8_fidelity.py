"""Fidelity of the int8 plan backends that are not bit-exact (``openvino-int8``,
``onnxruntime-int8``) against the exact numpy int8 kernels (bit for bit MegEngine Lite's).

    python bench/int8_fidelity.py /tmp/int8-bench [--models resnet18 mobilenet_v2_real]
        [--backends openvino-int8 onnxruntime-int8] [--crops 200] [--layers]

The int8 dumps of ``bench/int8_models.py`` (batch 1 for the three shared photos' centre
crops, batch 8 for the random crops/flips; ResNet-18 with its last output only). Per
model and backend: the largest |logit difference| to numpy over every input, whether the
top-1 equals numpy's on each photo, and on how many of the random crops it does.

``--layers``: per layer instead (:mod:`mge.runtime.int8_layers`), on the three photos'
centre crops at batch 1, each backend's lowering run by its engine (onnxruntime, OpenVINO
CPU at f32 inference precision, one thread): per view (``isolated``: each op fed the exact
kernels' inputs; ``quantized-input``: the whole net fed the exact input codes;
``accumulated``: the whole net) the 8-bit vars with a code differing, the codes differing
(of all), the largest code difference, how many differing codes lie within ``1e-3`` of a
rounding tie, the largest |logit| difference, and the convolutions the engine ran on
integer kernels (OpenVINO runs some in f32 once their outputs are made graph outputs, as
the two whole-net views must: those views are not the plan's); then, for the isolated
view, each layer with a differing code.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mge.lite as L  # noqa: E402
from bench.common import print_table  # noqa: E402
from bench.int8_models import MODELS, one_output, paths, prepare  # noqa: E402
from mge.runtime.int8_layers import VIEWS, LayerRow, layer_report  # noqa: E402
from mge.serialization.mge_graph import load_graph  # noqa: E402
from tests.quantization.mobilenet_ptq import center_crop, photos, random_crops  # noqa: E402


def logits(path: Path, backend: str, batches: list[np.ndarray]) -> np.ndarray:
    """The last output of the ``.mge`` at ``path`` on ``backend`` for every batch."""
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.load(str(path))
    data = net.get_io_tensor(net.get_all_input_name()[0])
    out = net.get_io_tensor(net.get_all_output_name()[-1])
    found = []
    for x in batches:
        data.set_data_by_copy(np.ascontiguousarray(x))
        net.forward()
        net.wait()
        found.append(out.to_numpy().reshape(len(x), -1).copy())
    return np.concatenate(found)


def run_onnxruntime(model: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``model`` on onnxruntime's CPU provider, one thread: every output by name."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


#: the runtime precisions of the convolutions OpenVINO last compiled
OV_CONVS: Counter = Counter()


def run_openvino(model: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``model`` on OpenVINO's CPU plugin at f32 inference precision, one thread."""
    from mge.runtime.plan_openvino import core
    from mge.runtime.plan_openvino_int8 import int8_layers

    compiled = core().compile_model(core().read_model(model.SerializeToString(), b""), "CPU", {
        "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1})
    OV_CONVS.clear()
    OV_CONVS.update(int8_layers(compiled).get("Convolution", Counter()))
    results = compiled.create_infer_request().infer(feed)
    return {name: value for port, value in results.items() for name in port.get_names()}


#: each backend's lowering and the engine that runs it
LOWERINGS = {"onnxruntime-int8": ("onnx", run_onnxruntime),
             "openvino-int8": ("qdq", run_openvino)}


def layer_tables(workdir: Path, models: list[str], backends: list[str]) -> None:
    """The ``--layers`` report (see the module)."""
    centre = [np.ascontiguousarray(center_crop(im)) for im in photos()]
    summary, details = [], []
    for model in models:
        prepare(workdir, model, [1])
        graph = load_graph(one_output(paths(workdir, model, 1)[0])).graph
        for backend in backends:
            kind, run = LOWERINGS[backend]
            for view in VIEWS:
                rows: list[LayerRow] = []
                convs: Counter = Counter()
                for x in centre:
                    rows += layer_report(graph, [x], run, kind, view)
                    if kind == "qdq":
                        convs.update(OV_CONVS)
                codes = [r for r in rows if r.codes]
                logits = [r.max_diff for r in rows if not r.codes]
                differ = sum(r.differ for r in codes)
                summary.append([model, backend, view,
                                len({r.var for r in codes if r.differ}),
                                f"{differ}/{sum(r.size for r in codes)}",
                                max(r.max_diff for r in codes),
                                sum(r.near_tie for r in codes),
                                f"{max(logits, default=0.0):.3f}",
                                " ".join(f"{k}:{v // len(centre)}" for k, v in convs.items())
                                if convs else "-"])
                if view == "isolated":
                    details += [[model, backend, r.var, r.op, r.differ, r.size, f"{r.max_diff:.3g}",
                                 r.near_tie] for r in rows if r.differ]
    print_table("int8 backends per layer against the exact numpy kernels (3 photos, batch 1)",
                ["model", "backend", "view", "vars differing", "codes differing",
                 "max code diff", "near a tie", "max |logit diff|", "OpenVINO convs"],
                summary)
    print_table("isolated view: the layers with a differing code (3 photos)",
                ["model", "backend", "var", "op", "differing", "of", "max diff",
                 "near a tie"], details)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=["openvino-int8", "onnxruntime-int8"])
    parser.add_argument("--crops", type=int, default=200, help="a multiple of 8")
    parser.add_argument("--layers", action="store_true", help="per layer (see the module)")
    args = parser.parse_args()
    if args.layers:
        layer_tables(args.workdir, args.models, args.backends)
        return
    images = photos()
    centre = [center_crop(im) for im in images]
    crops = np.concatenate(list(random_crops(images, args.crops, seed=7)))
    crop_batches = [crops[k:k + 8] for k in range(0, len(crops), 8)]
    rows = []
    for model in args.models:
        prepare(args.workdir, model, [1, 8])
        one, eight = (one_output(paths(args.workdir, model, b)[0]) for b in (1, 8))
        ref_photos = logits(one, "numpy", centre)
        ref_crops = logits(eight, "numpy", crop_batches)
        for backend in args.backends:
            got_photos = logits(one, backend, centre)
            got_crops = logits(eight, backend, crop_batches)
            diff = max(np.abs(got_photos - ref_photos).max(), np.abs(got_crops - ref_crops).max())
            same = got_crops.argmax(1) == ref_crops.argmax(1)
            rows.append([model, backend, f"{diff:.3f}",
                         f"{np.abs(ref_crops).max():.1f}",
                         " ".join("=" if a == b else f"{a}!={b}" for a, b in zip(
                             got_photos.argmax(1), ref_photos.argmax(1), strict=True)),
                         f"{same.sum()}/{len(same)}"])
    print_table("int8 backends against the exact numpy kernels",
                ["model", "backend", "max |logit diff|", "max |logit|", "top-1 on 3 photos",
                 "top-1 equal on crops"], rows)


if __name__ == "__main__":
    main()
