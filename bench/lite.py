"""mge.lite against its peers, interleaved in one script, on the same weights.

Engines: mge.lite on each plan backend (``mge-numpy``, ``mge-torch``, ``mge-onnxruntime``,
``mge-openvino``; ``mge-auto``, the backend mge.lite picks itself; ``mge-fastrun``/
``mge-fastrun-bf16``/``-fp16``, the backend fast-run picks by timing (``LITE_ALGO_PROFILE``;
its choice, selection time and candidate timings are printed after each timing, with the
time of a second load that reads the choice from the fast-run cache file,
``<workdir>/fast_run.cache``, removed at the start of a run with mge's load cache
``<workdir>/load_cache``: every load time in the table is a first load, selection included,
with empty caches; ``bench/lite_load.py`` times cold, warm and repeated loads of mge and its
peers); the reduced precision modes ``mge-<backend>-bf16``/``-fp16`` for each 16-bit type
the CPU has units for, ``mge-cuda`` with a GPU), onnxruntime, OpenVINO in float32 and in
each reduced precision its CPU plugin offers (``openvino-bf16``, ``openvino-f16``; where
installed), plain PyTorch eager and, where the oracle venv exists, real MegEngine Lite 1.13
(a worker process). Every engine's modules are imported before any load is timed. Models:
those of ``lite_models``.

Every engine's thread settings are printed first. For every (model, batch, threads) real
MegEngine Lite runs first, in its own phase, and its worker process is ended before the
other engines load (its thread pool spins while idle: left running it would steal a core
from whichever engine is timed next). The in-process engines are then timed together in
interleaved rounds of blocks (``block_timing``): every engine, in an order shuffled each
round, gets the same wait for the other threads to go idle, one uncounted warm-up run and
about ``--block-ms`` of counted runs per round; each block gives its median. The table
gives each engine's median of block medians (wall
clock, and the process's CPU time, which other load on the machine barely moves), its
ratio to the fastest peer (onnxruntime, OpenVINO f32, PyTorch, MegEngine Lite) as the
median of the per-round ratios with a bootstrap 95 % interval (MegEngine Lite, timed in
its own phase, is compared by medians), its load time, the peak memory a fresh process
adds to load it and run it three times (``--no-memory`` skips), and its largest
difference from onnxruntime's output (relative to the largest output). onnxruntime runs
twice, the second time as ``onnxruntime-control`` (another session, same settings): its
ratio to ``onnxruntime`` is the run's own noise band, printed with every case. The
reduced-precision mode's top-1 on the real photos is checked against float32. A last
table gives the issue's done-means ratios per case: ``mge-auto`` and ``mge-fastrun``
against the fastest float32 peer, mge's best reduced-precision engine against OpenVINO's
best reduced-precision run, and ``mge-auto``'s load time against the
fastest peer's (wall and CPU time each). ``--check`` lists every engine that was slower at 2
threads than at 1 (and exits with status 1 if any was). ``--quick``: ResNet-18 and
MobileNetV3-Small (or ``--models``), batch 1, 5 rounds of 15 ms blocks, no memory probes.

Run: ``python bench/lite.py [--models resnet18 ...] [--batches 1 8] [--threads 1 2]
[--rounds 12] [--block-ms 30] [--min-iters 1] [--iters 30] [--markdown] [--check]
[--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# torch's OpenMP threads spin while waiting; on a machine busy with other work (more
# runnable threads than cores) that makes 2-thread runs 5-20x slower. Waiting passively
# costs little when the cores are free. Set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from block_timing import BlockTiming, merge, time_blocks  # noqa: E402
from common import print_table  # noqa: E402
from lite_models import MODELS, BenchModel, prepare, real_images  # noqa: E402
from lite_report import (  # noqa: E402
    CONTROL,
    ROW_HEADER,
    SUMMARY_HEADER,
    case_rows,
    noise_band,
    slower_with_more_threads,
    summary_row,
)

ORACLE = BENCH.parent / ".oracle" / "bin" / "python"
#: engine-name suffix of mge's reduced-precision modes
SUFFIX = {"bfloat16": "bf16", "float16": "fp16"}
#: engines timed in a phase of their own, their process ended before the others load
OWN_PHASE = ("megengine-lite",)


@dataclass
class Loaded:
    """A model loaded by one engine: ``run()`` is timed, ``output()`` gives the logits."""

    run: Callable[[], object]
    output: Callable[[], np.ndarray]
    load_ms: float
    note: str = ""
    #: the process's CPU time during the load (all threads; nan where not measured)
    load_cpu_ms: float = float("nan")
    close: Callable[[], None] = lambda: None


def _timed(load: Callable[[], Loaded]) -> Loaded:
    start, start_cpu = time.perf_counter(), time.process_time()
    loaded = load()
    loaded.load_ms = (time.perf_counter() - start) * 1e3
    loaded.load_cpu_ms = (time.process_time() - start_cpu) * 1e3
    return loaded


# ------------------------------------------------------------------ engines
def mge_engine(backend: str, compute: str | None = None, device: str = "cpu",
               fast_run: bool = False) -> Callable[[BenchModel, int, int, np.ndarray], Loaded]:
    """mge.lite on plan ``backend``; with ``fast_run`` on ``"auto"`` with the
    ``LITE_ALGO_PROFILE`` policy (the first load of a (model, batch, threads) in this
    process times the candidates, later loads take the choice from the cache)."""

    def load(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
        from mge.lite import LiteAlgoSelectStrategy, LiteConfig, LiteDeviceType, LiteNetwork

        def make() -> Loaded:
            kind = LiteDeviceType.LITE_CUDA if device == "cuda" else LiteDeviceType.LITE_CPU
            config = LiteConfig(kind)
            config.plan_backend, config.compute_dtype = backend, compute
            net = LiteNetwork(config)
            net.threads_number = threads
            if fast_run:
                net.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
            net.load(model.mge[batch])
            net.get_io_tensor("data").set_data_by_share(x)
            note = net.fast_run.describe() if net.fast_run is not None else ""
            return Loaded(lambda: (net.forward(), net.wait()),
                          lambda: net.get_io_tensor(model.output).to_numpy(), 0.0, note)

        loaded = _timed(make)
        loaded.run()
        if fast_run:  # a second load takes the choice from the fast-run cache file
            again = _timed(make)
            loaded.note += (f"; second load (cached choice) {again.load_ms:.1f} ms, "
                            f"{again.load_cpu_ms:.1f} ms CPU")
        return loaded

    return load


def openvino_engine(precision: str) -> Callable[[BenchModel, int, int, np.ndarray], Loaded]:
    """OpenVINO's CPU plugin on the ONNX file: one stream, ``threads`` threads, latency
    mode, the given inference precision (``f32``, ``bf16``, ``f16``)."""

    def load(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
        import openvino as ov

        def make() -> Loaded:
            core = ov.Core()
            net = core.read_model(model.onnx)
            net.reshape({net.inputs[0].get_any_name(): list(x.shape)})
            compiled = core.compile_model(net, "CPU", {
                "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision})
            request = compiled.create_infer_request()
            out = compiled.output(model.output)

            def run() -> np.ndarray:
                return request.infer({0: x}, share_inputs=True)[out]

            return Loaded(run, run, 0.0)

        loaded = _timed(make)
        loaded.run()
        return loaded

    return load


def onnxruntime_engine(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
    import onnxruntime as ort

    def make() -> Loaded:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(model.onnx, opts, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        return Loaded(lambda: sess.run([model.output], feed),
                      lambda: sess.run([model.output], feed)[0], 0.0)

    return _timed(make)


def onnxruntime_mge_engine(model: BenchModel, batch: int, threads: int, x: np.ndarray
                           ) -> Loaded:
    """onnxruntime run directly on the ONNX file mge exports from the same ``.mge`` (the
    model the ``mge-onnxruntime`` plan runs): what that plan backend adds is its overhead."""
    from mge.convert import to_onnx

    path = os.path.splitext(model.mge[batch])[0] + ".mge.onnx"
    if not os.path.exists(path):
        to_onnx(model.mge[batch], path)
    return onnxruntime_engine(dataclasses.replace(model, onnx=path), batch, threads, x)


def pytorch_engine(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
    import torch

    def make() -> Loaded:
        twin = model.twin()
        xt = torch.from_numpy(x)

        def run() -> np.ndarray:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                out = twin(xt)
            out = out[-1] if isinstance(out, list) else out
            return out.numpy()

        return Loaded(run, run, 0.0)

    return _timed(make)


class OracleWorker:
    """Real MegEngine Lite in a worker process (``bench/lite_oracle.py``); one process per
    load, ended by the loaded model's ``close``."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.proc = subprocess.Popen([str(ORACLE), str(BENCH / "lite_oracle.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.count = 0

    def ask(self, **cmd: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MegEngine Lite worker died")
        return json.loads(line)

    @classmethod
    def engine(cls, workdir: str) -> Callable[[BenchModel, int, int, np.ndarray], Loaded]:
        def load(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
            worker = cls(workdir)
            loaded = worker(model, batch, threads, x)
            loaded.close = worker.close
            return loaded

        return load

    def __call__(self, model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
        self.count += 1
        key = f"{model.name}-{batch}-{threads}-{self.count}"
        inp = os.path.join(self.workdir, f"oracle_in_{key}.npy")
        out = os.path.join(self.workdir, f"oracle_out_{key}.npy")
        np.save(inp, x)
        load_ms = self.ask(cmd="load", key=key, path=model.megengine[batch],
                           threads=threads)["load_ms"]
        self.ask(cmd="run", key=key, input=inp, output=out)
        loaded = Loaded(lambda: None, lambda: np.load(out), load_ms)
        loaded.times = lambda n: self.times(key, inp, n)
        return loaded

    def times(self, key: str, inp: str, n: int) -> list[tuple[float, float]]:
        """(wall ms, CPU ms) of ``n`` forwards in the worker, one pair per forward."""
        reply = self.ask(cmd="time", key=key, input=inp, iters=n)
        return list(zip(reply["ms"], reply["cpu_ms"], strict=True))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def engines(workdir: str, wanted: list[str] | None) -> dict[str, Callable]:
    """The engines available here (optionally only those named in ``wanted``)."""
    from mge.runtime.cpu import reduced_precision_dtypes
    from mge.runtime.plan import PLAN_BACKENDS, PlanOptions, available_plan_backends

    table: dict[str, Callable] = {"mge-auto": mge_engine("auto"),
                                  "mge-fastrun": mge_engine("auto", fast_run=True)}
    backends = available_plan_backends()
    if _has_openvino():
        backends.append("openvino")  # opt-in: not among the automatic ones
    for name in backends:
        table[f"mge-{name}"] = mge_engine(name)
    lows = reduced_precision_dtypes()
    for low in lows:
        suffix = SUFFIX[low]
        table[f"mge-fastrun-{suffix}"] = mge_engine("auto", low, fast_run=True)
        for name in backends:
            if name != "numpy" and PLAN_BACKENDS[name].unavailable(
                    PlanOptions(backend=name, compute_dtype=low)) is None:
                table[f"mge-{name}-{suffix}"] = mge_engine(name, low)
    import torch

    if torch.cuda.is_available():
        table["mge-cuda"] = mge_engine("torch", device="cuda")
    table["onnxruntime"] = onnxruntime_engine
    table[CONTROL] = onnxruntime_engine  # the same engine again: the run's noise band
    table["onnxruntime-mge-onnx"] = onnxruntime_mge_engine
    if _has_openvino():
        from mge.runtime.plan_openvino import PRECISIONS, cpu_capabilities

        table["openvino"] = openvino_engine("f32")
        for low in lows:  # each reduced precision the CPU plugin offers
            precision, capability = PRECISIONS[low]
            if capability in cpu_capabilities():
                table[f"openvino-{precision}"] = openvino_engine(precision)
    table["pytorch"] = pytorch_engine
    if ORACLE.exists() and (wanted is None or "megengine-lite" in wanted):
        table["megengine-lite"] = OracleWorker.engine(workdir)
    return {k: v for k, v in table.items() if wanted is None or k in wanted}


def thread_settings(engine: str, threads: int) -> str:
    """How ``engine`` is told to use ``threads`` threads (printed with the results)."""
    if engine.startswith("mge-fastrun"):
        return (f"LiteNetwork.threads_number={threads}, plan_backend auto, "
                "set_network_algo_policy(LITE_ALGO_PROFILE): the chosen backend's settings")
    if engine.startswith("mge-"):
        return (f"LiteNetwork.threads_number={threads} (plan threads; torch: "
                f"set_num_threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
                "onnxruntime: intra_op_num_threads; openvino: INFERENCE_NUM_THREADS)")
    if engine.startswith("onnxruntime"):
        return (f"intra_op_num_threads={threads}, inter_op_num_threads=1, other session "
                "options default (spinning on, ORT_ENABLE_ALL)")
    if engine.startswith("openvino"):
        return f"INFERENCE_NUM_THREADS={threads}, NUM_STREAMS=1, PERFORMANCE_HINT=LATENCY"
    if engine == "pytorch":
        return (f"torch.set_num_threads({threads}), "
                f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    if engine == "megengine-lite":
        return f"threads_number={threads}; own process, ended after its own timing phase"
    return "?"


def warm_imports(table: dict[str, Callable]) -> None:
    """Import every engine's modules (and make OpenVINO's ``Core``) before any load is
    timed, so that no engine's load time carries the process's one-time imports."""
    import onnxruntime  # noqa: F401

    import mge.convert.onnx  # noqa: F401
    import mge.lite  # noqa: F401
    from mge.runtime.plan import available_plan_backends

    available_plan_backends()
    if _has_openvino():
        from mge.runtime.plan_openvino import core

        core()
    if "pytorch" in table or any("torch" in k for k in table):
        import torch  # noqa: F401


# ------------------------------------------------------------------ measuring
def batch_input(batch: int, size: int = 224) -> np.ndarray:
    """``batch`` real photos (repeated), preprocessed, as one NCHW float32 array."""
    photos = list(real_images(size).values())
    return np.ascontiguousarray(np.concatenate([photos[k % len(photos)]
                                                for k in range(batch)]))


def time_engines(loaded: dict[str, Loaded], args: argparse.Namespace) -> BlockTiming:
    """Each engine's block medians (``block_timing``: interleaved rounds, the same pause,
    warm-up run and block length rule for every engine). CPU time is the process's (all
    its threads), so it shows the work done whatever else the machine runs."""
    runs = {k: v.run for k, v in loaded.items() if not hasattr(v, "times")}
    external = {k: v.times for k, v in loaded.items() if hasattr(v, "times")}
    return time_blocks(runs, args.rounds, args.block_ms, args.min_iters, args.iters, external)


def probe_memory(engine: str, model: str, batch: int, threads: int, workdir: str) -> float:
    """Peak MiB a fresh process adds to load ``model`` with ``engine`` and run it 3 times."""
    if engine == "megengine-lite":
        inp = os.path.join(workdir, f"probe_{model}_{batch}.npy")
        bench_model = prepare(model, workdir, [batch])
        np.save(inp, batch_input(batch, bench_model.size))
        path = bench_model.megengine[batch]
        cmd = [str(ORACLE), str(BENCH / "lite_oracle.py"), "--probe", path, inp, str(threads)]
    else:
        cmd = [sys.executable, __file__, "--probe", engine, model, str(batch), str(threads),
               "--workdir", workdir]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"]
    except (IndexError, ValueError, KeyError):
        return float("nan")


def _vm_mib(field: str) -> float:
    """``VmRSS``/``VmHWM`` of this process in MiB (``/proc/self/status``)."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak_rss() -> float:
    """Reset the peak-RSS counter (Linux ``clear_refs``); returns the current RSS, MiB."""
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
        f.write("5")
    return _vm_mib("VmRSS")


def _probe(args: argparse.Namespace) -> None:
    engine, model_name, batch, threads = args.probe
    batch, threads = int(batch), int(threads)
    model = prepare(model_name, args.workdir, [batch])
    x = batch_input(batch, model.size)
    load = engines(args.workdir, [engine])[engine]
    import onnxruntime  # noqa: F401  (every probe pays the same imports)
    import torch  # noqa: F401

    base = reset_peak_rss()
    loaded = load(model, batch, threads, x)
    for _ in range(3):
        loaded.run()
    print(json.dumps({"peak_mib": _vm_mib("VmHWM") - base}))


def top1_check(model: BenchModel, table: dict[str, Callable], threads: int) -> list[list]:
    """Top-1 of each engine on each real photo (batch 1)."""
    rows = []
    photos = real_images(model.size)
    for name, load in table.items():
        tops = []
        for x in photos.values():
            loaded = load(model, 1, threads, np.ascontiguousarray(x))
            loaded.run()
            tops.append(int(np.argmax(loaded.output())))
            loaded.close()
        rows.append([model.name, name, *tops])
    return rows


def run_case(table: dict[str, Callable], model: BenchModel, batch: int, threads: int,
             x: np.ndarray, args: argparse.Namespace
             ) -> tuple[BlockTiming, dict[str, tuple[np.ndarray, float, float]]]:
    """Load and time every engine on one (model, batch, threads): the own-phase engines
    first, each alone, then the others interleaved. Returns the block timing and, per
    engine, (output, load ms, load CPU ms)."""
    phases, results = [], {}
    for k in [k for k in table if k in OWN_PHASE]:
        item = table[k](model, batch, threads, x)
        phases.append(time_engines({k: item}, args))
        results[k] = (item.output(), item.load_ms, item.load_cpu_ms)
        item.close()
    loaded = {k: load(model, batch, threads, x) for k, load in table.items()
              if k not in OWN_PHASE}
    phases.append(time_engines(loaded, args))
    for k, item in loaded.items():
        results[k] = (item.output(), item.load_ms, item.load_cpu_ms)
        if item.note:
            print(f"  {model.name} batch {batch}, {threads} thread(s), {k}: {item.note}")
        item.close()
    return merge(*phases), results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=None)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=12,
                        help="interleaved rounds: one block of every engine each")
    parser.add_argument("--block-ms", type=float, default=30.0,
                        help="work per block (ms), which sets each engine's runs per block")
    parser.add_argument("--min-iters", type=int, default=1, help="fewest counted runs a block")
    parser.add_argument("--iters", type=int, default=30, help="most counted runs a block")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables")
    parser.add_argument("--check", action="store_true",
                        help="list engines slower at 2 threads than at 1 (status 1 if any)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mge_bench_lite"))
    parser.add_argument("--probe", nargs=4, metavar=("ENGINE", "MODEL", "BATCH", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="ResNet-18 and MobileNetV3-Small, batch 1, 5 rounds of 15 ms "
                             "blocks, no memory probes")
    args = parser.parse_args(argv)
    if args.quick:
        args.models = args.models or ["resnet18", "mobilenet_v3_small_real"]
        args.batches = args.batches or [1]
        args.rounds, args.block_ms, args.no_memory = 5, 15.0, True
    args.models, args.batches = args.models or list(MODELS), args.batches or [1, 8]
    # fast-run's choices go to a file of this run (removed first): the first load of
    # each case selects by timing, the second reads the file
    os.makedirs(args.workdir, exist_ok=True)
    fast_run_file = os.path.join(args.workdir, "fast_run.cache")
    os.environ["MGE_FAST_RUN_CACHE"] = fast_run_file
    os.environ["MGE_LOAD_CACHE"] = os.path.join(args.workdir, "load_cache")
    if args.probe:
        _probe(args)
        return
    Path(fast_run_file).unlink(missing_ok=True)
    shutil.rmtree(os.environ["MGE_LOAD_CACHE"], ignore_errors=True)
    table = engines(args.workdir, args.engines)
    warm_imports(table)
    print(f"engines: {', '.join(table)}; workdir {args.workdir}")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (torch's threads)")
    for threads in args.threads:
        for k in table:
            print(f"  {threads} thread(s), {k}: {thread_settings(k, threads)}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} picks numpy's BLAS "
              "kernels (the mge-numpy engine)")
    rows, top1, summary = [], [], []
    for name in args.models:
        model = prepare(name, args.workdir, args.batches)
        for batch in args.batches:
            x = batch_input(batch, model.size)
            for threads in args.threads:
                timing, results = run_case(table, model, batch, threads, x, args)
                mem = {k: float("nan") if args.no_memory else
                       probe_memory(k, name, batch, threads, args.workdir) for k in table}
                rows += case_rows([name, batch, threads], timing, results, mem)
                print_table(f"{name} batch {batch}, {threads} thread(s); noise band: "
                            f"{CONTROL} / onnxruntime {noise_band(timing)}; waited "
                            f"{timing.waited:.1f} s for idle threads ({timing.capped} "
                            "waits cut at the cap)", ROW_HEADER,
                            [r for r in rows if r[:3] == [name, batch, threads]])
                summary.append(summary_row([name, batch, threads], timing,
                                           {k: v[1:] for k, v in results.items()}))
        low = [k for k in table if k.endswith(("-bf16", "-fp16", "-f16"))]
        if low:  # on batch-1 files, written now when only other batches were asked for
            single = model if 1 in model.mge else prepare(name, args.workdir, [1])
            top1 += top1_check(single, {k: table[k] for k in
                                       ("onnxruntime", "mge-auto", *low) if k in table},
                               args.threads[0])
    print_table("done-means ratios (x: engine / fastest peer; low: reduced precision, "
                "against OpenVINO's best reduced-precision run; load: mge-auto's load "
                "against the fastest peer's)", SUMMARY_HEADER, summary)
    if top1:
        names = list(real_images())
        print_table("top-1 on the real photos (batch 1)", ["model", "engine", *names], top1)
    if args.markdown:
        print("\n| " + " | ".join(ROW_HEADER) + " |\n|" + "---|" * len(ROW_HEADER))
        for r in rows:
            print("| " + " | ".join(f"{c:.2f}" if isinstance(c, float) else str(c)
                                    for c in r) + " |")
    if args.check:
        slow = slower_with_more_threads(rows)
        print("\n--check: " + ("no engine slower at 2 threads than at 1" if not slow else
                               "slower at 2 threads than at 1:\n  " + "\n  ".join(slow)))
        if slow:
            sys.exit(1)


if __name__ == "__main__":
    main()
