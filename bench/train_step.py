"""One ResNet-18 training step (forward, backward, SGD with momentum) at batch 16:
mge on the torch backend against plain PyTorch, same weights and data.

Run: ``python bench/train_step.py [--iters 5] [--batch 16] [--size 224] [--rounds 3]``.
Each engine runs in its own process (so that peak memory is its own), the two engines
alternating for ``--rounds`` rounds so that a change in machine load hits both alike;
prints the median over rounds of each process's median step time (ms), the peak resident
memory (MiB) and the ratios to PyTorch (issue 17's target: within 1.3x for both). Both
processes set the same thread counts and run the same warmup, data and weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_ms, print_table, set_threads  # noqa: E402


def _step_fn(engine: str, batch: int, size: int):  # noqa: ANN202
    """A zero-argument training step of ``engine`` on fixed data."""
    import torch
    from torch_twins import ResNet18, load_from_mge

    import mge
    from mge.models import resnet18

    mge.random.seed(0)
    net = resnet18()
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    y_np = rng.integers(0, 1000, batch).astype(np.int32)
    if engine == "pytorch":
        twin = load_from_mge(ResNet18(), net.state_dict())
        twin.train()
        opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np).long()

        def step() -> object:
            loss = torch.nn.functional.cross_entropy(twin(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step
    import mge.functional as F
    from mge.autodiff import GradManager
    from mge.optimizer import SGD

    mge.set_default_backend("torch")
    net.train()
    gm = GradManager().attach(net.parameters())
    opt = SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = mge.tensor(x_np), mge.tensor(y_np)

    def step() -> object:
        with gm:
            loss = F.nn.cross_entropy(net(x), y)
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    return step


def _measure(engine: str, iters: int, batch: int, size: int, threads: int) -> None:
    set_threads(threads)
    step = _step_fn(engine, batch, size)
    ms = median_ms(step, warmup=1, iters=iters)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": ms, "peak_mib": peak_mib}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="engine processes run alternately this many times each")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        _measure(args.engine, args.iters, args.batch, args.size, args.threads)
        return
    runs: dict[str, list[dict]] = {"pytorch": [], "mge-torch": []}
    for _ in range(args.rounds):
        for engine, got in runs.items():
            out = subprocess.run([sys.executable, __file__, "--engine", engine, "--iters",
                                  str(args.iters), "--batch", str(args.batch), "--size",
                                  str(args.size), "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            got.append(json.loads(out.strip().splitlines()[-1]))
    results = {engine: {"ms": statistics.median(r["ms"] for r in got),
                        "peak_mib": max(r["peak_mib"] for r in got)}
               for engine, got in runs.items()}
    base = results["pytorch"]
    rows = [[engine, r["ms"], r["peak_mib"], r["ms"] / base["ms"], r["peak_mib"] / base["peak_mib"]]
            for engine, r in results.items()]
    print_table(f"ResNet-18 training step, batch {args.batch}, {args.threads} threads, "
                f"median of {args.rounds} alternating rounds",
                ["engine", "step ms", "peak MiB", "time x", "memory x"], rows)


if __name__ == "__main__":
    main()
