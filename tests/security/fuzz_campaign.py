"""The long structural fuzzing campaign over ``.mge`` loading (not part of the test run).

Run: ``PYTHONPATH=$PWD nice -n 10 python -m tests.security.fuzz_campaign 20000 [seed]``.
A crash (the interpreter dying) ends the run without its summary line. Prints one
summary line (outcomes, and how often each loader loaded or refused a case) and every
finding (raw exception, hang) with the case's sample and seed, so a finding replays
with ``mutate(VALID[sample], random.Random(seed).randrange)``.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter

from .mge_mutations import SAMPLES, VALID, load_case, mutate


def main(cases: int, seed: int = 0) -> int:
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    loaders: Counter[str] = Counter()
    for case in range(cases):
        case_seed = seed * 1_000_000 + case
        sample = SAMPLES[case % len(SAMPLES)]
        problem = load_case(mutate(VALID[sample], random.Random(case_seed).randrange),
                            tally=loaders)
        kind = "ok" if problem is None else problem.split(":")[0]
        outcomes[kind] += 1
        if problem is not None:
            print(f"FINDING sample={sample} seed={case_seed}: {problem}", flush=True)
    print(f"{cases} cases in {time.monotonic() - started:.0f} s: {dict(outcomes)}; "
          f"{dict(sorted(loaders.items()))}", flush=True)
    return 0 if outcomes["ok"] == cases else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0))
