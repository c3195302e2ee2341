"""int8 speed: int8 ``.mge`` dumps in mge.lite against onnxruntime float32 and
onnxruntime's own int8 (QDQ) model of the same float net.

    python bench/int8.py /tmp/int8-bench [--models resnet18 mobilenet_v2_real]
        [--batches 1 8] [--threads 1 2] [--iters 10] [--quick]

The models are written to the work directory on first use (``bench/int8_models.py``):
ResNet-18 by real MegEngine 1.13's PTQ (needs the oracle), the real MobileNetV2 of
``../shared/models`` by mge's PTQ. Per model, batch and thread count, timed round-robin
in one run (the machine is shared):

* ``mge int8``: mge.lite, plan backend ``onnxruntime-int8`` on the int8 dump;
* ``ort fp32``: mge.lite, plan backend ``onnxruntime`` on the float dump (one
  onnxruntime float32 session of the same net);
* ``ort qdq``: onnxruntime's ``quantize_static`` (QDQ, uint8 activations, int8 weights,
  calibrated on 4 random batches) of that float model, run directly.

``--quick`` times 3 rounds after 1 warm-up (a check that everything runs, not figures).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mge.lite as L  # noqa: E402
from bench.common import interleaved_ms, print_table  # noqa: E402
from bench.int8_models import MODELS, cpu_int8_units, paths, prepare  # noqa: E402


def lite_runner(path: Path, backend: str, threads: int, x: np.ndarray):  # noqa: ANN201
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.threads_number = threads
    net.load(str(path))
    tensor = net.get_io_tensor(net.get_all_input_name()[0])

    def run() -> None:
        tensor.set_data_by_copy(x)
        net.forward()
        net.wait()

    return run


def ort_qdq_runner(float_mge: Path, threads: int, x: np.ndarray, tmp: Path):  # noqa: ANN201
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from mge.convert.onnx import to_onnx
    from mge.runtime.ort_plan import session_options

    fp32 = tmp / f"{float_mge.stem}.onnx"
    qdq = tmp / f"{float_mge.stem}.qdq.onnx"
    if not qdq.exists():
        to_onnx(str(float_mge), str(fp32))
        rng = np.random.default_rng(0)
        name = ort.InferenceSession(str(fp32)).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter([{name: rng.standard_normal(x.shape, np.float32)}
                                     for _ in range(4)])

            def get_next(self):  # noqa: ANN202
                return next(self.batches, None)

        quantize_static(str(fp32), str(qdq), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    session = ort.InferenceSession(str(qdq), session_options(threads),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 warm-up")
    args = parser.parse_args()
    warmup, iters = (1, 3) if args.quick else (2, args.iters)
    print(cpu_int8_units())
    for model in args.models:
        prepare(args.workdir, model, args.batches)
        rows = []
        for batch in args.batches:
            int8, fp32 = paths(args.workdir, model, batch)
            x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224), np.float32)
            for threads in args.threads:
                os.environ["OMP_NUM_THREADS"] = str(threads)
                fns = {"mge int8": lite_runner(int8, "onnxruntime-int8", threads, x),
                       "ort fp32": lite_runner(fp32, "onnxruntime", threads, x),
                       "ort qdq": ort_qdq_runner(fp32, threads, x, args.workdir)}
                ms = interleaved_ms(fns, warmup=warmup, iters=iters)
                rows.append([batch, threads, *(f"{ms[k]:.1f}" for k in fns),
                             f"{ms['ort fp32'] / ms['mge int8']:.2f}",
                             f"{ms['ort qdq'] / ms['mge int8']:.2f}"])
        print_table(f"{model}: median ms (interleaved, {iters} rounds)",
                    ["batch", "threads", "mge int8", "ort fp32", "ort qdq", "fp32/int8",
                     "qdq/int8"], rows)


if __name__ == "__main__":
    main()
