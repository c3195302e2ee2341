"""Candidate forms of ReLU's gradient on CPU (MegEngine's ``SWITCH_GT0``: ``y`` where
``x > 0``, else +0, NaN in ``x`` giving 0), timed in interleaved rounds.

aten's ``threshold_backward`` is the fast kernel but lets ``y`` through where ``x`` is NaN;
each candidate is first checked for exactness on NaN, +-inf, +-0 (inexact ones are
marked ``inexact`` and still timed, for reference).

usage: python bench/relu_grad.py [--threads 1] [--rounds 41]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

TB = torch.ops.aten.threshold_backward
Form = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _where(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, y, torch.zeros((), dtype=y.dtype))


FORMS: dict[str, Form] = {
    "threshold_backward": lambda x, y: TB(y, x, 0),
    "sum_check": lambda x, y: TB(y, x, 0) if not bool(x.sum().isnan()) else _where(x, y),
    "max_check": lambda x, y: TB(y, x, 0) if not bool(x.max().isnan()) else _where(x, y),
    "fix_nan_positions": lambda x, y: TB(y, x, 0).masked_fill_(x.isnan(), 0),
    "nan_to_num": lambda x, y: TB(y, x.nan_to_num(0.0), 0),
    "fmax": lambda x, y: TB(y, torch.fmax(x, torch.zeros((), dtype=x.dtype)), 0),
    "where": _where,
}


def _exact(form: Form) -> bool:
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, -1.0])
    x = special.repeat_interleave(len(special)).repeat(5)  # longer than a vector
    y = special.repeat(len(special)).repeat(5)
    want = _where(x, y)
    got = form(x, y)
    return bool(torch.equal(got.isnan(), want.isnan())) and bool(
        (got[~want.isnan()] == want[~want.isnan()]).all()) and bool(
        (torch.signbit(got) == torch.signbit(want)).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exact = {name: _exact(f) for name, f in FORMS.items()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.rounds} "
          "interleaved rounds (ms)")
    for shape in [(16, 64, 56, 56), (16, 128, 28, 28), (16, 512, 7, 7)]:
        x, y = torch.randn(shape), torch.randn(shape)
        times: dict[str, list[float]] = {name: [] for name in FORMS}
        names = list(FORMS)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                start = time.perf_counter()
                FORMS[name](x, y)
                times[name].append(time.perf_counter() - start)
        cells = [f"{n}={sorted(t)[len(t) // 2] * 1e3:.3f}{'' if exact[n] else ' (inexact)'}"
                 for n, t in times.items()]
        print(shape, "  ".join(cells))


if __name__ == "__main__":
    main()
