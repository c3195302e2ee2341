"""Instructions a cold ``mge.lite`` load executes on its own thread, counted by valgrind's
callgrind: an A/B of two source trees that machine load cannot move (timings on a shared
2-core machine vary by 2x from run to run; instruction counts do not vary at all).

Each model is loaded once per tree in a fresh process with empty caches, after the same
imports as ``bench/lite_load.py``; only the ``LiteNetwork.load`` call is counted (it runs
inside ``operator.call``, the function callgrind's ``--toggle-collect`` follows), the
onnxruntime session included, the load cache's background writer not. Fewer instructions
is less CPU work on the load's path, not a wall time: use ``bench/lite_load.py`` for those.

Run: ``python bench/lite_load_instructions.py --baseline /work/main [--models ...]``
(``--nocache``: ``LiteConfig.load_cache=False``). Needs ``valgrind``; a run takes about a
minute per model and tree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import print_table  # noqa: E402
from lite_models import MODELS, prepare  # noqa: E402


def _child(path: str, use_cache: bool) -> None:
    import operator

    from lite_load import cold_network

    operator.call(cold_network("mge-load-instructions-", use_cache, 1).load, path)


def count(tree: str | None, path: str, use_cache: bool) -> int:
    """Instructions of one cold load of ``path`` with the mge of ``tree`` (None: this one)."""
    with tempfile.TemporaryDirectory() as scratch:
        cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=_operator_call",
               f"--callgrind-out-file={scratch}/cg.%p", os.path.realpath(sys.executable),
               __file__, "--child", path, *([] if use_cache else ["--nocache"])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (tree, os.environ.get("PYTHONPATH")) if p)}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env,
                              cwd=tree)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        found = [int(n.replace(",", "")) for n in
                 re.findall(r"Collected : ([\d,]+)", done.stderr)]
        return max(found)  # the main thread's (other threads collect nothing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v1_025_real",
                                                        "shufflenet_v2"], choices=MODELS)
    parser.add_argument("--baseline", help="another mge source tree to compare with")
    parser.add_argument("--nocache", action="store_true", help="LiteConfig.load_cache=False")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mge_bench_lite"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, not args.nocache)
        return
    rows = []
    for name in args.models:
        path = prepare(name, args.workdir, [1]).mge[1]
        ours = count(None, path, not args.nocache)
        row = [name, f"{ours / 1e6:.1f}"]
        if args.baseline:
            base = count(args.baseline, path, not args.nocache)
            row += [f"{base / 1e6:.1f}", f"{(ours - base) / base:+.1%}"]
        rows.append(row)
    head = ["model", "M instructions"] + (["baseline", "change"] if args.baseline else [])
    print_table("cold load, instructions on the loading thread (callgrind)", head, rows)


if __name__ == "__main__":
    main()
