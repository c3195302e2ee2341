"""mge.lite against its peers, interleaved in one script, on the same weights.

Engines: mge.lite on each plan backend (``mge-numpy``, ``mge-torch``, the reduced
precision mode ``mge-torch-bf16``/``-fp16`` where the CPU has the units, ``mge-cuda``
with a GPU), onnxruntime, plain PyTorch eager and, where the oracle venv exists, real
MegEngine Lite 1.13 (a worker process). Models: ResNet-18, ShuffleNetV2 1.0x,
MobileNetV2 (mge.models, seeded weights) and the real MobileNetV2 of ../shared/models.

For every (model, batch, threads) the engines are timed in rounds, in rotating order,
so that load on the machine hits them alike; the table gives each engine's median
forward time (wall clock, and the process's CPU time, which other load on the machine
barely moves), its ratio to the fastest peer (onnxruntime, PyTorch, MegEngine Lite),
its load time, the peak memory a fresh process adds to load it and run it three
times (``--no-memory`` skips), and its largest difference from onnxruntime's output
(relative to the largest output). The reduced-precision mode's top-1 on the real
photos is checked against float32.

Run: ``python bench/lite.py [--models resnet18 ...] [--batches 1 8] [--threads 1 2]
[--rounds 5] [--iters 4] [--markdown]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
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

from common import print_table  # noqa: E402
from lite_models import MODELS, BenchModel, prepare, real_images  # noqa: E402

ORACLE = BENCH.parent / ".oracle" / "bin" / "python"
PEERS = ("onnxruntime", "pytorch", "megengine-lite")


@dataclass
class Loaded:
    """A model loaded by one engine: ``run()`` is timed, ``output()`` gives the logits."""

    run: Callable[[], object]
    output: Callable[[], np.ndarray]
    load_ms: float
    note: str = ""
    close: Callable[[], None] = lambda: None


def _timed(load: Callable[[], Loaded]) -> Loaded:
    start = time.perf_counter()
    loaded = load()
    loaded.load_ms = (time.perf_counter() - start) * 1e3
    return loaded


# ------------------------------------------------------------------ engines
def mge_engine(backend: str, compute: str | None = None, device: str = "cpu"
               ) -> Callable[[BenchModel, int, int, np.ndarray], Loaded]:
    def load(model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
        from mge.lite import LiteConfig, LiteDeviceType, LiteNetwork

        def make() -> Loaded:
            kind = LiteDeviceType.LITE_CUDA if device == "cuda" else LiteDeviceType.LITE_CPU
            config = LiteConfig(kind)
            config.plan_backend, config.compute_dtype = backend, compute
            net = LiteNetwork(config)
            net.threads_number = threads
            net.load(model.mge[batch])
            net.get_io_tensor("data").set_data_by_share(x)
            return Loaded(lambda: (net.forward(), net.wait()),
                          lambda: net.get_io_tensor(model.output).to_numpy(), 0.0)

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
    """Real MegEngine Lite in a worker process (``bench/lite_oracle.py``)."""

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

    def __call__(self, model: BenchModel, batch: int, threads: int, x: np.ndarray) -> Loaded:
        self.count += 1
        key = f"{model.name}-{batch}-{threads}-{self.count}"
        inp = os.path.join(self.workdir, f"oracle_in_{key}.npy")
        out = os.path.join(self.workdir, f"oracle_out_{key}.npy")
        np.save(inp, x)
        load_ms = self.ask(cmd="load", key=key, path=model.megengine[batch],
                           threads=threads)["load_ms"]
        self.ask(cmd="run", key=key, input=inp, output=out)
        loaded = Loaded(lambda: None, lambda: np.load(out), load_ms,
                        close=lambda: self.ask(cmd="drop", key=key))
        loaded.times = lambda n: self.ask(cmd="time", key=key, input=inp, iters=n)
        return loaded

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def engines(workdir: str, wanted: list[str] | None) -> dict[str, Callable]:
    """The engines available here (optionally only those named in ``wanted``)."""
    from mge.runtime.cpu import reduced_precision_dtype
    from mge.runtime.plan import available_plan_backends

    table: dict[str, Callable] = {}
    for name in available_plan_backends():
        table[f"mge-{name}"] = mge_engine(name)
    low = reduced_precision_dtype()
    if low and "torch" in available_plan_backends():
        table[f"mge-torch-{'bf16' if low == 'bfloat16' else 'fp16'}"] = mge_engine("torch", low)
    import torch

    if torch.cuda.is_available():
        table["mge-cuda"] = mge_engine("torch", device="cuda")
    table["onnxruntime"] = onnxruntime_engine
    table["onnxruntime-mge-onnx"] = onnxruntime_mge_engine
    table["pytorch"] = pytorch_engine
    if ORACLE.exists() and (wanted is None or "megengine-lite" in wanted):
        table["megengine-lite"] = OracleWorker(workdir)
    return {k: v for k, v in table.items() if wanted is None or k in wanted}


# ------------------------------------------------------------------ measuring
def batch_input(batch: int) -> np.ndarray:
    """``batch`` real photos (repeated), preprocessed, as one NCHW float32 array."""
    photos = list(real_images().values())
    return np.ascontiguousarray(np.concatenate([photos[k % len(photos)]
                                                for k in range(batch)]))


def time_engines(loaded: dict[str, Loaded], rounds: int, iters: int
                 ) -> dict[str, tuple[float, float]]:
    """(median wall ms, median CPU ms) per engine over ``rounds`` rounds of ``iters``
    runs, rotating the order. CPU time is the process's (all its threads), so it shows
    the work done whatever else the machine runs."""
    wall: dict[str, list[float]] = {k: [] for k in loaded}
    cpu: dict[str, list[float]] = {k: [] for k in loaded}
    names = list(loaded)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            item = loaded[name]
            if hasattr(item, "times"):
                reply = item.times(iters)
                wall[name] += reply["ms"]
                cpu[name] += reply["cpu_ms"]
                continue
            for _ in range(iters):
                start, start_cpu = time.perf_counter(), time.process_time()
                item.run()
                wall[name].append((time.perf_counter() - start) * 1e3)
                cpu[name].append((time.process_time() - start_cpu) * 1e3)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in loaded}


def probe_memory(engine: str, model: str, batch: int, threads: int, workdir: str) -> float:
    """Peak MiB a fresh process adds to load ``model`` with ``engine`` and run it 3 times."""
    if engine == "megengine-lite":
        inp = os.path.join(workdir, f"probe_{model}_{batch}.npy")
        np.save(inp, batch_input(batch))
        path = prepare(model, workdir, [batch]).megengine[batch]
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
    x = batch_input(batch)
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
    photos = real_images()
    for name, load in table.items():
        tops = []
        for x in photos.values():
            loaded = load(model, 1, threads, np.ascontiguousarray(x))
            loaded.run()
            tops.append(int(np.argmax(loaded.output())))
            loaded.close()
        rows.append([model.name, name, *tops])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mge_bench_lite"))
    parser.add_argument("--probe", nargs=4, metavar=("ENGINE", "MODEL", "BATCH", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _probe(args)
        return
    table = engines(args.workdir, args.engines)
    print(f"engines: {', '.join(table)}; workdir {args.workdir}")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (torch's threads)")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} picks numpy's BLAS "
              "kernels (the mge-numpy engine)")
    header = ["model", "batch", "thr", "engine", "median ms", "x fastest peer", "cpu ms",
              "cpu x peer", "load ms", "peak MiB", "rel.err"]
    rows = []
    top1 = []
    for name in args.models:
        model = prepare(name, args.workdir, args.batches)
        for batch in args.batches:
            x = batch_input(batch)
            for threads in args.threads:
                loaded = {k: load(model, batch, threads, x) for k, load in table.items()}
                ref = loaded["onnxruntime"].output() if "onnxruntime" in loaded else None
                medians = time_engines(loaded, args.rounds, args.iters)
                peer = min((v[0] for k, v in medians.items() if k in PEERS), default=float("nan"))
                peer_cpu = min((v[1] for k, v in medians.items() if k in PEERS),
                               default=float("nan"))
                for k, item in loaded.items():
                    err = float("nan") if ref is None else \
                        float(np.abs(item.output() - ref).max() / np.abs(ref).max())
                    mem = float("nan") if args.no_memory else \
                        probe_memory(k, name, batch, threads, args.workdir)
                    (ms, cpu_ms) = medians[k]
                    rows.append([name, batch, threads, k, ms, ms / peer, cpu_ms,
                                 cpu_ms / peer_cpu, item.load_ms, mem, f"{err:.1e}"])
                    item.close()
                print_table(f"{name} batch {batch}, {threads} thread(s)", header,
                            [r for r in rows if r[:3] == [name, batch, threads]])
        low = [k for k in table if k.startswith("mge-torch-")]
        if low:
            top1 += top1_check(model, {k: table[k] for k in
                                       ("onnxruntime", "mge-torch", *low) if k in table},
                               args.threads[0])
    if top1:
        names = list(real_images())
        print_table("top-1 on the real photos (batch 1)", ["model", "engine", *names], top1)
    if args.markdown:
        print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(f"{c:.2f}" if isinstance(c, float) else str(c)
                                    for c in r) + " |")
    oracle = table.get("megengine-lite")
    if isinstance(oracle, OracleWorker):
        oracle.close()


if __name__ == "__main__":
    main()
