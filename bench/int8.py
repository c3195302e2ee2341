"""int8 speed: int8 ``.mge`` dumps in mge.lite against onnxruntime float32 and
onnxruntime's own int8 (QDQ) model of the same float net.

    python bench/int8.py /tmp/int8-bench [--models resnet18 mobilenet_v2_real
        mobilenet_v2_qhead]
        [--batches 1 8] [--threads 1 2] [--rounds 5] [--iters 4] [--quick] [--check]
        [--cpu-time]

The models are written to the work directory on first use (``bench/int8_models.py``):
ResNet-18 by real MegEngine 1.13's PTQ (needs the oracle; timed with its last output
only, as the float net has), the real MobileNetV2 of ``../shared/models`` by mge's PTQ.
Per model, batch and thread count:

* ``mge int8``: mge.lite, plan backend ``onnxruntime-int8`` on the int8 dump, its input
  shared once (``set_data_by_share``, no copy per forward, as onnxruntime reads its feed);
* ``ort fp32``: onnxruntime run directly on the float net's ONNX file, as its users run
  it: a default ``SessionOptions`` with only ``intra_op_num_threads`` set; for the real
  MobileNetV2 its own file of ``../shared/models`` (batch made symbolic; both its outputs,
  ``probs`` and ``logits``), for ResNet-18 mge's export of MegEngine's float dump (mge's
  export of the real MobileNetV2's float dump ran 2-6 % slower than its own file);
* ``ort qdq``: onnxruntime's ``quantize_static`` (QDQ, uint8 activations, int8 weights,
  calibrated on 4 random batches) of that float model, run the same way;
* ``ort qdq (mge)``: onnxruntime, run the same way, on mge's QDQ export of the int8 dump
  itself (``mge.convert.to_onnx``: int8 activations and weights, int32 biases), the file
  a user of ``python -m mge.convert mge_to_onnx`` gets;
* ``mge fast-run``: mge.lite on ``"auto"`` with the ``LITE_ALGO_PROFILE`` policy (what
  a user asking MegEngine Lite for its fastest algorithms gets): its first load times the
  int8 plans (the exact one, ``onnxruntime-int8``, ``openvino-int8`` where installed) and
  keeps the fastest; the choice is printed per case (its fast-run file is this run's own,
  removed at the start);
* where OpenVINO is installed, ``mge ov int8``: mge.lite on plan backend ``openvino-int8``
  (the int8 dump as a QDQ model of its reals, OpenVINO's int8 kernels), fed as ``mge int8``;
  ``ov qdq``: OpenVINO on that same onnxruntime QDQ file as its users run it
  (``Core().compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": n})``, other properties
  default), through one infer request.

Each engine is timed in its own block of runs, the blocks' order rotating each round, and
a block starts only once the other engines' idle onnxruntime workers have stopped spinning
(``bench/int8_timing.py``; timed one run at a time round-robin, each engine used to share
the 2 cores with the previous engine's spinning worker, which made every engine slower at
2 threads than at 1). Per case it prints the CPU time other engines' threads used during
each engine's timed runs (about 0: nothing else of this process ran while one was timed).
The load average is printed before and after: on a shared machine
the figures are only as quiet as it was. ``--check`` lists every engine slower at 2
threads than at 1 and exits with status 1 if any was. ``--quick``: 3 rounds of 3 runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mge.lite as L  # noqa: E402
from bench.common import print_table  # noqa: E402
from bench.int8_models import (  # noqa: E402
    MODELS,
    cpu_int8_units,
    one_output,
    paths,
    prepare,
)
from bench.int8_timing import (  # noqa: E402
    blocked_ms,
    slower_with_more_threads,
    thread_ids,
)
from bench.lite_models import real_onnx  # noqa: E402

#: OpenVINO installed: its two engines are timed too
OPENVINO = importlib.util.find_spec("openvino") is not None


#: the fast-run choice of each ``mge fast-run`` load, printed with its case
CHOICES: list[str] = []


def lite_runner(path: Path, backend: str, threads: int, x: np.ndarray,  # noqa: ANN201
                fast_run: bool = False):
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.threads_number = threads
    if fast_run:
        net.set_network_algo_policy(L.LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
    net.load(str(path))
    if fast_run:
        CHOICES.append(net.fast_run.describe())
    # fed once, without a copy (as bench/lite.py does; onnxruntime reads x in place too)
    net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_share(x)

    def run() -> None:
        net.forward()
        net.wait()

    return run


def ort_session(path: Path, threads: int, x: np.ndarray):  # noqa: ANN201
    """One forward of onnxruntime on ``path`` as its users configure it: default session
    options, ``intra_op_num_threads`` only."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


def openvino_request(path: Path, threads: int, x: np.ndarray):  # noqa: ANN201
    """One forward of OpenVINO on the ONNX file ``path`` as its users run it: the CPU
    plugin with only ``INFERENCE_NUM_THREADS`` set, one infer request."""
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU",
                                             {"INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    return lambda: request.infer({0: x}, share_inputs=True)


def onnx_models(float_mge: Path, shape: tuple[int, ...], tmp: Path) -> tuple[Path, Path]:
    """``(float32 ONNX, QDQ ONNX)`` of the float dump, written once into ``tmp``."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from mge.convert.onnx import to_onnx

    fp32 = tmp / f"{float_mge.stem}.onnx"
    qdq = tmp / f"{float_mge.stem}.qdq.onnx"
    if not fp32.exists():
        to_onnx(str(float_mge), str(fp32))
    if not qdq.exists():
        rng = np.random.default_rng(0)
        name = ort.InferenceSession(str(fp32)).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter([{name: rng.standard_normal(shape, np.float32)}
                                     for _ in range(4)])

            def get_next(self):  # noqa: ANN202
                return next(self.batches, None)

        quantize_static(str(fp32), str(qdq), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return fp32, qdq


def exported_qdq(int8_mge: Path, tmp: Path) -> Path:
    """mge's QDQ ONNX export of the int8 dump, written once into ``tmp``."""
    from mge.convert.onnx import to_onnx

    path = tmp / f"{int8_mge.stem}.export.qdq.onnx"
    if not path.exists():
        to_onnx(str(int8_mge), str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2_real"],
                        choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=4, help="timed runs per block")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 runs")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the 1-thread cases by the process's CPU time per "
                             "forward (a loaded machine's waits for a busy core left out; "
                             "its shared caches and memory bandwidth still count); cases "
                             "with more threads stay on the wall clock")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if any engine is slower at 2 threads than at 1")
    args = parser.parse_args()
    if args.check and args.cpu_time:
        parser.error("--check compares thread counts on one clock: not with --cpu-time")
    rounds, iters = (3, 3) if args.quick else (args.rounds, args.iters)
    # fast-run's choices go to a file of this run, removed first: every case selects by timing
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ["MGE_FAST_RUN_CACHE"] = str(args.workdir / "fast_run.cache")
    Path(os.environ["MGE_FAST_RUN_CACHE"]).unlink(missing_ok=True)
    print(cpu_int8_units())
    print("threads: mge.lite LiteNetwork.threads_number; onnxruntime intra_op_num_threads "
          "(other session options default)"
          + ("; OpenVINO INFERENCE_NUM_THREADS" if OPENVINO else ""))
    load = os.getloadavg()[0]
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    every: dict[tuple[str, int, int, str], float] = {}
    for model in args.models:
        prepare(args.workdir, model, args.batches)
        rows = []
        for batch in args.batches:
            int8, fp32 = paths(args.workdir, model, batch)
            int8 = one_output(int8)  # the float net's one output, not every block's
            x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224), np.float32)
            fp32_onnx, qdq_onnx = onnx_models(fp32, x.shape, args.workdir)
            if model != "resnet18":  # the real MobileNetV2: its own ONNX file, not mge's
                fp32_onnx = Path(real_onnx("mobilenet_v2_real", str(args.workdir)))
            mge_qdq_onnx = exported_qdq(int8, args.workdir)
            for threads in args.threads:
                makers = {"mge int8": partial(lite_runner, int8, "onnxruntime-int8"),
                          "mge fast-run": partial(lite_runner, int8, "auto", fast_run=True),
                          "ort fp32": partial(ort_session, fp32_onnx),
                          "ort qdq": partial(ort_session, qdq_onnx),
                          "ort qdq (mge)": partial(ort_session, mge_qdq_onnx)}
                if OPENVINO:
                    makers["mge ov int8"] = partial(lite_runner, int8, "openvino-int8")
                    makers["ov qdq"] = partial(openvino_request, qdq_onnx)
                fns, owners, foreign = {}, {}, {}
                for name, make in makers.items():
                    before = thread_ids()
                    fns[name] = make(threads, x)
                    fns[name]()  # pools may start on the first run
                    owners[name] = thread_ids() - before
                clock = time.process_time if args.cpu_time and threads == 1 \
                    else time.perf_counter
                ms = blocked_ms(fns, rounds=rounds, iters=iters, owners=owners,
                                foreign=foreign, clock=clock)
                del fns  # sessions end before the next case loads
                print(f"{model} batch {batch}, {threads} threads: fast-run chose "
                      + "; ".join(CHOICES))
                CHOICES.clear()
                print(f"{model} batch {batch}, {threads} threads: CPU ms other engines' "
                      "threads used per timed run: " + ", ".join(
                          f"{k} {v:.2f}" for k, v in foreign.items()))
                every.update({(model, batch, threads, k): v for k, v in ms.items()})
                ratios = [ms["ort fp32"] / ms["mge int8"], ms["ort qdq"] / ms["mge int8"],
                          ms["ort qdq (mge)"] / ms["mge int8"],
                          ms["ort fp32"] / ms["mge fast-run"], ms["ort qdq"] / ms["mge fast-run"]]
                if OPENVINO:
                    ratios += [ms["ort fp32"] / ms["mge ov int8"],
                               ms["ov qdq"] / ms["mge ov int8"]]
                rows.append([batch, threads, *(f"{ms[k]:.1f}" for k in makers),
                             *(f"{r:.2f}" for r in ratios)])
        clocks = " (1 thread: CPU ms)" if args.cpu_time else ""
        print_table(f"{model}: median ms{clocks} ({rounds} rounds of {iters} runs per engine)",
                    ["batch", "threads", *makers, "fp32/int8", "qdq/int8", "qdq (mge)/int8",
                     "fp32/fast-run", "qdq/fast-run",
                     *(["fp32/ov int8", "ov qdq/ov int8"] if OPENVINO else [])], rows)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    slower = slower_with_more_threads(every)
    if args.check:
        print("\nslower at more threads: " + ("none" if not slower else ""))
        if slower and max(os.getloadavg()[0], load) >= (os.cpu_count() or 1) / 2:
            print(f"  (other work kept the machine loaded, load average {load:.1f} at the "
                  f"start on {os.cpu_count()} CPUs: a multi-thread run waits for a busy core)")
        for line in slower:
            print("  " + line)
        if slower:
            sys.exit(1)


if __name__ == "__main__":
    main()
