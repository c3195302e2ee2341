"""Where a cold ``mge.lite`` load spends its time, phase by phase, each load in a fresh
process with empty caches (the same imports done first as ``bench/lite_load.py``).

Phases (wall ms, or with ``--cpu`` the main thread's CPU ms, ``time.thread_time``:
blind to other threads and to waiting, steadier on a loaded machine; nested phases are
not subtracted from their parents except in ``other``): ``open`` (find the entry:
read, hash, look up), ``fbs`` (decode the ``.mge``), ``graph`` (the graph from the
decoded file, ``fbs`` included), ``passes`` (the plan's inference passes), ``export``
(the ONNX model), ``session`` (the engine's compile), ``store`` (the load-cache entry,
on the load's path), ``load`` (the whole ``LiteNetwork.load``). Functions are timed by
wrapping them wherever a module holds them.

Run: ``python bench/lite_load_phases.py [--models resnet18 ...] [--rounds 3] [--cpu]``
(``--nocache``: ``LiteConfig.load_cache=False``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import print_table  # noqa: E402
from lite_models import MODELS, prepare  # noqa: E402

PHASES = ("open", "fbs", "graph", "passes", "export", "session", "store", "load")


def _wrap(owner: object, name: str, phase: str, spent: dict[str, float],
          clock: Callable[[], float]) -> None:
    """Time ``owner.name`` as ``phase`` by ``clock`` in every module that holds it."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        start = clock()
        try:
            return original(*args, **kwargs)
        finally:
            spent[phase] += (clock() - start) * 1e3

    setattr(owner, name, timed)
    for module in list(sys.modules.values()):
        if module is not None and getattr(module, name, None) is original:
            setattr(module, name, timed)


def _child(path: str, threads: int, use_cache: bool, cpu: bool) -> None:
    from lite_load import cold_network

    net = cold_network("mge-load-phases-", use_cache, threads)
    import onnxruntime

    from mge.lite import cached_load
    from mge.runtime import plan_onnx
    from mge.runtime.plan import PlanCache
    from mge.serialization import fbs, mge_graph

    spent: dict[str, float] = defaultdict(float)
    clock = time.thread_time if cpu else time.perf_counter
    _wrap(cached_load, "open_load", "open", spent, clock)
    _wrap(cached_load, "store_entry", "store", spent, clock)
    _wrap(fbs, "read_model", "fbs", spent, clock)
    _wrap(mge_graph, "graph_from_bytes", "graph", spent, clock)
    _wrap(PlanCache, "_optimized", "passes", spent, clock)
    _wrap(plan_onnx, "export_for_plan", "export", spent, clock)
    _wrap(onnxruntime, "InferenceSession", "session", spent, clock)
    start = clock()
    net.load(path)
    spent["load"] = (clock() - start) * 1e3
    print(json.dumps(spent))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nocache", action="store_true", help="LiteConfig.load_cache=False")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mge_bench_lite"))
    parser.add_argument("--cpu", action="store_true", help="the main thread's CPU time "
                        "(time.thread_time) instead of the wall clock")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.threads, not args.nocache, args.cpu)
        return
    rows = []
    for name in args.models:
        path = prepare(name, args.workdir, [1]).mge[1]
        found: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.rounds):
            cmd = [sys.executable, __file__, "--threads", str(args.threads), "--child", path,
                   *(["--nocache"] if args.nocache else []), *(["--cpu"] if args.cpu else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
            reply = json.loads(done.stdout.strip().splitlines()[-1])
            for phase in PHASES:
                found[phase].append(reply.get(phase, 0.0))
        row = [statistics.median(found[p]) for p in PHASES]
        other = row[-1] - row[0] - row[2] - sum(row[3:7])
        rows.append([name, *row, other])
    clock = "main-thread CPU ms" if args.cpu else "wall ms"
    print_table(f"cold load phases, {clock} (medians of {args.rounds}, {args.threads} thread(s); "
                f"load cache {'off' if args.nocache else 'on'})",
                ["model", *PHASES, "other"], rows)


if __name__ == "__main__":
    main()
