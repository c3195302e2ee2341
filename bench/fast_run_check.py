"""Does fast-run pick the fastest plan backend? Its pick against a long timing of each.

For every (model, batch, threads) of ``bench/lite.py``'s models this script

1. runs fast-run's selection (``mge.runtime.fast_run.select_plan_backend``) afresh
   ``--repeats`` times (an empty store each time, so nothing comes from a cache) and
   records each pick, its selection time (building every candidate's plan, then the
   timing race), the race's time and the candidates left out as less exact than float32
   (OpenVINO's precision gate);
2. loads the model in mge.lite once on each candidate fast-run timed whose score was
   within 3x of the best score (the others cannot be the fastest), plus the first pick
   a second time as a control, and times their ``forward(); wait()`` in ``--rounds``
   interleaved rounds of blocks (``block_timing``: the same pause, uncounted warm-up run
   and ~20 ms of runs for each; one median per block), far longer than fast-run's race;
3. reports, per case, the reference's fastest backend (lowest paired ratio) and each
   pick's ratio to it (the median of the per-round ratios of their blocks), and the
   control's ratio to its twin: the reference's own noise band.

The last lines count the picks that were the fastest (and those within 1.03x, the noise
band) and give the worst ratio: issue 18 asks for the fastest in at least 9 of 10 cases
and never one more than 1.1x slower. The machine's other load (see ``uptime``) moves
every figure: run it on a quiet machine for numbers to quote.

Run: ``python bench/fast_run_check.py [--models ...] [--batches 1] [--threads 1 2]
[--precision float32|bfloat16|float16] [--repeats 3] [--rounds 40]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench/lite.py: torch's threads

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from block_timing import time_blocks  # noqa: E402
from common import print_table  # noqa: E402
from lite_models import MODELS, prepare, real_images  # noqa: E402

#: a candidate whose fast-run score is over this x the best is not timed again
CONTENDER_RATIO = 3.0
#: the noise band of "picked the fastest"
NOISE = 1.03


def _input(batch: int, size: int) -> np.ndarray:
    photos = list(real_images(size).values())
    return np.ascontiguousarray(np.concatenate([photos[k % len(photos)]
                                                for k in range(batch)]))


def _network(path: str, backend: str, compute: str | None, threads: int,
             x: np.ndarray) -> object:
    from mge.lite import LiteConfig, LiteNetwork

    config = LiteConfig()
    config.plan_backend, config.compute_dtype = backend, compute
    net = LiteNetwork(config)
    net.threads_number = threads
    net.load(path)
    net.get_io_tensor(net.get_input_name(0)).set_data_by_share(x)
    net.forward()
    net.wait()
    return net


def reference(nets: dict[str, object], rounds: int) -> object:
    """The block timing of each network's ``forward(); wait()`` (module doc)."""
    def forward(net: object) -> None:
        net.forward()
        net.wait()

    return time_blocks({k: (lambda net=net: forward(net)) for k, net in nets.items()},
                       rounds, block_ms=20.0, min_iters=2, max_iters=20)


def check_case(name: str, batch: int, threads: int, precision: str | None, repeats: int,
               rounds: int, workdir: str) -> tuple[list[list], list[float]]:
    """Rows of one (model, batch, threads) and each pick's ratio to the fastest."""
    from mge.lite import LiteConfig
    from mge.lite.loading import model_bits, plan_options, read_model
    from mge.runtime.fast_run import select_plan_backend

    model = prepare(name, workdir, [batch])
    path = model.mge[batch]
    x = _input(batch, model.size)
    config = LiteConfig()
    config.compute_dtype = precision
    loaded = read_model(path, config)
    options = plan_options(config, threads, 0, model_bits(loaded.metadata))
    shapes = {loaded.graph.inputs[0].name: x.shape}
    selections = [select_plan_backend(loaded.graph, options, {}, shapes)[0]
                  for _ in range(repeats)]
    best_scores: dict[str, float] = {}
    for sel in selections:
        for label, ms in sel.timings_ms.items():
            best_scores[label] = min(ms, best_scores.get(label, float("inf")))
    floor = min(best_scores.values())
    contenders = {sel.candidate.label: sel.candidate for sel in selections}
    for sel in selections:
        for label, ms in sel.timings_ms.items():
            if ms <= CONTENDER_RATIO * floor:
                contenders.setdefault(label, _candidate(label))
    nets = {label: _network(path, c.backend, c.compute_dtype, threads, x)
            for label, c in contenders.items()}
    first = selections[0].candidate
    control = f"{first.label} again"
    nets[control] = _network(path, first.backend, first.compute_dtype, threads, x)
    timing = reference(nets, rounds)
    ref = {k: timing.median(k) for k in nets if k != control}
    fastest = timing.fastest(list(ref))
    ratios = [timing.ratio(sel.candidate.label, fastest)[1] for sel in selections]
    lo, mid, hi = timing.ratio(control, first.label)
    picks = ", ".join(f"{sel.candidate.label} {r:.3f}x" for sel, r in zip(selections, ratios,
                                                                          strict=True))
    sel_s = [sel.seconds for sel in selections]
    race_s = [sel.timing_seconds for sel in selections]
    refs = ", ".join(f"{k} {v:.3f}" for k, v in sorted(ref.items(), key=lambda kv: kv[1]))
    excluded = {k: v for sel in selections for k, v in sel.excluded.items()
                if "deviation" in v or "departs" in v}  # not the unavailable ones
    row = [name, batch, threads, fastest, picks, f"{min(sel_s):.2f}-{max(sel_s):.2f}",
           f"{min(race_s):.2f}-{max(race_s):.2f}", refs, f"{mid:.3f} [{lo:.3f}, {hi:.3f}]",
           "; ".join(f"{k}: {v}" for k, v in excluded.items()) or "-"]
    return [row], ratios


def _candidate(label: str) -> object:
    from mge.runtime.fast_run import Candidate

    backend, dtype = label.rsplit("-", 1)
    return Candidate(backend, None if dtype == "float32" else dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--precision", default=None, choices=("bfloat16", "float16"),
                        help="the compute precision fast-run may use (default float32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(),
                                                          "mge_bench_lite"))
    args = parser.parse_args(argv)
    rows, ratios = [], []
    for name in args.models:
        for batch in args.batches:
            for threads in args.threads:
                case_rows, case_ratios = check_case(name, batch, threads, args.precision,
                                                    args.repeats, args.rounds, args.workdir)
                rows += case_rows
                ratios += case_ratios
                print(" | ".join(str(c) for c in case_rows[0]), flush=True)
    print_table("fast-run's picks against the fastest backend (reference: median ms of "
                f"{args.rounds} interleaved rounds; noise: the control's paired ratio, 95 %)",
                ["model", "batch", "thr", "fastest", "picks (x fastest)", "selection s",
                 "race s", "reference ms", "noise", "excluded as inexact"], rows)
    exact = sum(r <= 1.0 for r in ratios)
    close = sum(r <= NOISE for r in ratios)
    print(f"\nfast-run picked the fastest in {exact} of {len(ratios)} selections, within "
          f"{NOISE}x in {close}; worst {max(ratios):.3f}x (machine load: "
          f"{os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
