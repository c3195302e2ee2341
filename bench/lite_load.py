"""Load times of mge.lite and its peers, cold and warm, each load in a fresh process.

For every model (batch 1 unless ``--batch``) and engine, in ``--rounds`` rounds:

* **cold**: a new process, every cache empty (mge's load cache and fast-run file,
  OpenVINO's ``CACHE_DIR``, onnxruntime's saved optimized model), the first load;
* **warm**: a new process, the caches the cold load filled (what a restarted service
  sees), the first load;
* **repeat**: in that warm process, the median of ``--repeats`` further loads.

Each process imports every engine's modules (and makes OpenVINO's ``Core``) before it
times anything, so no load carries one-time imports; a load ends when the engine is ready
to run (mge: ``LiteNetwork.load``; onnxruntime: ``InferenceSession``; OpenVINO:
``compile_model`` and ``create_infer_request``). Engines, configured as their users
would cache: ``mge-auto`` (the default ``LiteNetwork``, load cache under a fresh
``MGE_LOAD_CACHE``), ``mge-fastrun`` (``LITE_ALGO_PROFILE``: the cold load times the
backends, the warm one reads the choice), ``mge-nocache`` (``LiteConfig.load_cache =
False``), ``onnxruntime`` (the ONNX file, default session options), ``onnxruntime-saved``
(the cold load saves the optimized model with ``optimized_model_filepath``, warm loads
read it with graph optimizations off, as onnxruntime's docs suggest), ``openvino`` (f32,
``CACHE_DIR``). Threads: ``--threads`` (1). Rounds run every engine in turn (interleaved:
the machine drifts); ``--baseline TREE`` adds each mge engine run from another mge source
tree as ``base:<engine>`` (an A/B of two versions). The table gives median ms per phase
and each engine's ratio to the fastest peer in the same phase. Other load on the
machine moves these numbers: say so when quoting them. ``--cpu`` times each load by the
CPU time of the whole process (``time.process_time``: every thread of every engine,
mge's hashing and entry-writing threads included while the load runs) instead of the
wall clock: steadier on a shared machine, blind to waiting (disk, sleeping threads).

Run: ``python bench/lite_load.py [--models mobilenet_v3_small_real ...] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import print_table  # noqa: E402
from lite_models import MODELS, prepare  # noqa: E402

MGE_ENGINES = ("mge-auto", "mge-fastrun", "mge-nocache")
PEERS = ("onnxruntime", "onnxruntime-saved", "openvino")
PHASES = ("cold", "warm", "repeat")


def _has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _imports() -> None:
    """Everything any engine imports, before anything is timed (``onnx`` too: mge's
    exporter builds the model with it, a one-time import like the engines'; and the
    exporter's node builder, which it imports on its first node: without bytecode files,
    as under ``PYTHONDONTWRITEBYTECODE``, that import compiled its source inside the
    first timed load)."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import mge.convert.onnx  # noqa: F401
    import mge.convert.onnx.exporter.protos  # noqa: F401
    import mge.lite  # noqa: F401
    from mge.backends import get_backend
    from mge.runtime.plan import available_plan_backends

    available_plan_backends()
    get_backend("numpy")  # the kernels every plan backend falls back on
    if _has_openvino():
        from mge.runtime.plan_openvino import core

        core()


def cold_network(prefix: str, use_cache: bool, threads: int):  # noqa: ANN201  (LiteNetwork)
    """A ``LiteNetwork`` for one cold load in this fresh process: load and fast-run caches
    of its own, empty (a new folder named ``prefix...``), every engine imported first
    (:func:`_imports`), ``LiteConfig.load_cache = use_cache``, ``threads`` threads."""
    cache = tempfile.mkdtemp(prefix=prefix)
    os.environ["MGE_LOAD_CACHE"] = os.path.join(cache, "mge")
    os.environ["MGE_FAST_RUN_CACHE"] = os.path.join(cache, "fast_run.cache")
    _imports()
    from mge.lite import LiteConfig, LiteNetwork

    config = LiteConfig()
    config.load_cache = use_cache
    net = LiteNetwork(config)
    net.threads_number = threads
    return net


def _loader(engine: str, mge_path: str, onnx_path: str, shape: list[int], threads: int,
            cache: str):
    """A function that loads the model once with ``engine`` (caches under ``cache``)."""
    if engine.startswith("mge-"):
        from mge.lite import LiteAlgoSelectStrategy, LiteConfig, LiteNetwork

        def load_mge() -> object:
            config = LiteConfig()
            config.load_cache = engine != "mge-nocache"
            net = LiteNetwork(config)
            net.threads_number = threads
            if engine == "mge-fastrun":
                net.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
            net.load(mge_path)
            return net

        return load_mge
    if engine.startswith("onnxruntime"):
        import onnxruntime as ort

        saved = os.path.join(cache, "optimized.onnx")

        def load_ort() -> object:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            path = onnx_path
            if engine == "onnxruntime-saved":
                if os.path.exists(saved):
                    path = saved
                    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                else:
                    opts.optimized_model_filepath = saved
            return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

        return load_ort
    import openvino as ov

    def load_ov() -> object:
        core = ov.Core()
        core.set_property({"CACHE_DIR": os.path.join(cache, "openvino")})
        net = core.read_model(onnx_path)
        net.reshape({net.inputs[0].get_any_name(): shape})
        compiled = core.compile_model(net, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        return compiled, compiled.create_infer_request()

    return load_ov


def _child(args: argparse.Namespace) -> None:
    engine, mge_path, onnx_path, shape, cache = args.child
    os.environ["MGE_LOAD_CACHE"] = os.path.join(cache, "mge")
    os.environ["MGE_FAST_RUN_CACHE"] = os.path.join(cache, "fast_run.cache")
    _imports()
    load = _loader(engine, mge_path, onnx_path, json.loads(shape), args.threads, cache)
    clock = time.process_time if args.cpu else time.perf_counter
    times = []
    for _ in range(1 + args.repeats):
        start = clock()
        keep = load()
        times.append((clock() - start) * 1e3)
        del keep
    print(json.dumps({"first": times[0],
                      "repeat": statistics.median(times[1:]) if times[1:] else None}))


def measure(engine: str, mge_path: str, onnx_path: str, shape: list[int],
            args: argparse.Namespace, found: dict[str, list[float]]) -> None:
    """One round of ``engine`` (fresh caches): its cold, warm and repeat ms appended to
    ``found``. ``base:<engine>`` runs the mge engine with ``--baseline``'s tree."""
    tree = None
    if engine.startswith("base:"):
        tree, engine = args.baseline, engine[len("base:"):]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (tree, os.environ.get("PYTHONPATH")) if p)} if tree else None
    cache = tempfile.mkdtemp(prefix="mge-load-bench-")
    try:
        for phase in ("cold", "warm"):
            cmd = [sys.executable, __file__, "--threads", str(args.threads),
                   *(["--cpu"] if args.cpu else []),
                   "--repeats", str(args.repeats if phase == "warm" else 0), "--child",
                   engine, mge_path, onnx_path, json.dumps(shape), cache]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                  env=env, cwd=tree)
            if done.returncode:
                raise RuntimeError(f"{engine} {phase}: {done.stderr[-2000:]}")
            reply = json.loads(done.stdout.strip().splitlines()[-1])
            found[phase].append(reply["first"])
            if phase == "warm":
                found["repeat"].append(reply["repeat"])
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--engines", nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3,
                        help="further loads timed in the warm process (at least 1)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mge_bench_lite"))
    parser.add_argument("--baseline", help="another mge source tree: its mge engines run "
                        "too, as base:<engine>, interleaved with this tree's")
    parser.add_argument("--cpu", action="store_true", help="time loads by the process's "
                        "CPU time (all its threads) instead of the wall clock")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    if args.repeats < 1:
        parser.error("--repeats: the repeat phase needs at least one load")
    engines = args.engines or [*MGE_ENGINES, *[p for p in PEERS
                                               if p != "openvino" or _has_openvino()]]
    if args.baseline:
        engines += [f"base:{e}" for e in engines if e.startswith("mge-")]
    rows = []
    for name in args.models:
        model = prepare(name, args.workdir, [args.batch])
        shape = [args.batch, 3, model.size, model.size]
        found = {e: {p: [] for p in PHASES} for e in engines}
        for _ in range(args.rounds):  # rounds interleave the engines (the machine drifts)
            for engine in engines:
                measure(engine, model.mge[args.batch], model.onnx, shape, args, found[engine])
        medians = {e: {p: statistics.median(v) for p, v in found[e].items()} for e in engines}
        for engine in engines:
            row = [name, engine, *[medians[engine][p] for p in PHASES]]
            for phase in PHASES:
                peer = min((medians[k][phase] for k in PEERS if k in medians),
                           default=float("nan"))
                row.append(medians[engine][phase] / peer)
            rows.append(row)
    clock = "process CPU ms" if args.cpu else "load ms"
    print_table(f"{clock} (batch {args.batch}, {args.threads} thread(s), medians of "
                f"{args.rounds} rounds; x: against the fastest peer in the same phase)",
                ["model", "engine", *PHASES, *[f"{p} x" for p in PHASES]], rows)


if __name__ == "__main__":
    main()
