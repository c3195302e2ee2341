"""Where the int8 time goes: onnxruntime's per-node profile of mge's lowered int8 graph
next to onnxruntime's own QDQ model of the same float net, summed per op type.

    python bench/int8_profile.py WORKDIR [--model mobilenet_v2_real] [--batch 1]
        [--threads 1] [--rounds 30]

WORKDIR is ``bench/int8.py``'s (its dumps and QDQ model are made there on first use).
Both sessions run alternately, two forwards at a time, so that load on the machine hits
both alike; each op type's figure is the sum over its nodes of each node's median time
per forward (robust to a loaded machine).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.int8 import onnx_models  # noqa: E402
from bench.int8_models import MODELS, one_output, paths, prepare  # noqa: E402


def op_times(profile: str) -> dict[str, float]:
    """Microseconds per forward per op type of an onnxruntime profile file: each node's
    median over the forwards, summed over the nodes of the type."""
    by_node: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    with open(profile, encoding="utf-8") as f:
        for event in json.load(f):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                by_node[event["args"]["op_name"], event["name"]].append(event["dur"])
    by_op: dict[str, float] = collections.defaultdict(float)
    for (op, _), durations in by_node.items():
        by_op[op] += statistics.median(durations)
    return dict(by_op)


def main() -> None:
    import onnxruntime as ort

    from mge.runtime.int8_onnx import lower_to_onnx
    from mge.serialization.mge_graph import load_graph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--model", default="mobilenet_v2_real", choices=MODELS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    prepare(args.workdir, args.model, [args.batch])
    int8, fp32 = paths(args.workdir, args.model, args.batch)
    x = np.random.default_rng(1).standard_normal((args.batch, 3, 224, 224), np.float32)
    lowered = lower_to_onnx(load_graph(one_output(int8)).graph).SerializeToString()
    models = {"mge int8": lowered, "ort qdq": str(onnx_models(fp32, x.shape, args.workdir)[1])}
    sessions = {}
    for name, model in models.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.log_severity_level = args.threads, 3
        opts.enable_profiling = True
        opts.profile_file_prefix = str(args.workdir / f"profile_{name.replace(' ', '_')}")
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        sessions[name] = (session, session.get_inputs()[0].name)
    for _ in range(args.rounds):
        for session, feed in sessions.values():
            for _ in range(2):
                session.run(None, {feed: x})
    table = {name: op_times(s.end_profiling()) for name, (s, _) in sessions.items()}
    print(f"{args.model} batch {args.batch}, {args.threads} threads: us per forward by op type")
    ops = sorted({op for t in table.values() for op in t},
                 key=lambda op: -max(t.get(op, 0.0) for t in table.values()))
    print(f"{'op':<26}" + "".join(f"{name:>12}" for name in table))
    for op in ops:
        print(f"{op:<26}" + "".join(f"{t.get(op, 0.0):12.0f}" for t in table.values()))
    print(f"{'sum':<26}" + "".join(f"{sum(t.values()):12.0f}" for t in table.values()))


if __name__ == "__main__":
    main()
