"""Real MegEngine 1.13 and the random ops: dump a traced function that draws, or run a
``.mge`` file three times in megenginelite and report each output's statistics.

Runs under the oracle interpreter (``.oracle/bin/python``); never imported by mge.
``tests/ops/test_random_ops.py`` uses both modes; the committed fixture
``tests/fixtures/random/draws.mge`` was made with::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/random_ops.py \\
        dump tests/fixtures/random/draws.mge

Usage: ``random_ops.py dump OUT.mge`` | ``random_ops.py run MODEL.mge`` (prints JSON:
output name -> shape, dtype, mean, std, whether the three runs all differ).
"""

from __future__ import annotations

import json
import sys

import numpy as np

#: the draws of the fixture (mge's test traces the same function): name -> what it is
OUTPUTS = ("u", "n", "g", "b", "p", "perm")


def dump(path: str) -> None:
    import megengine as mge
    from megengine.jit import trace

    mge.random.seed(7)

    @trace(symbolic=True, capture_as_const=True)
    def draws(x):  # noqa: ANN001, ANN202
        return (x + mge.random.uniform(0, 1, size=(1000,)),
                mge.random.normal(2.0, 3.0, size=(1000,)),
                mge.random.gamma(2.0, 1.5, size=(1000,)),
                mge.random.beta(2.0, 5.0, size=(1000,)),
                mge.random.poisson(4.0, size=(1000,)),
                mge.random.permutation(50))

    x = mge.tensor(np.zeros((1000,), np.float32))
    draws(x)
    draws(x)
    draws.dump(path, arg_names=["x"], output_names=list(OUTPUTS),
               optimize_for_inference=False)


def run(path: str) -> dict[str, dict]:
    from megenginelite import LiteNetwork

    net = LiteNetwork()
    net.load(path)
    return run_three_times(net)


def run_three_times(net) -> dict[str, dict]:  # noqa: ANN001 - megenginelite's or mge.lite's
    """Run a loaded network three times on zero inputs; per output its shape, dtype, mean,
    std and whether the three runs all differ (the same API in megenginelite and
    ``mge.lite``, so mge's tests report mge.lite's runs with this too)."""
    for k in range(len(net.get_all_input_name())):
        t = net.get_io_tensor(net.get_input_name(k))
        t.set_data_by_copy(np.zeros(t.layout.shapes[:t.layout.ndim], np.float32))
    runs = []
    for _ in range(3):
        net.forward()
        net.wait()
        runs.append({o: net.get_io_tensor(o).to_numpy().copy()
                     for o in net.get_all_output_name()})
    report = {}
    for name, first in runs[0].items():
        values = [r[name] for r in runs]
        report[name] = {
            "shape": list(first.shape), "dtype": str(first.dtype),
            "mean": float(first.astype(np.float64).mean()),
            "std": float(first.astype(np.float64).std()),
            "fresh": not any(np.array_equal(a, b) for a, b in zip(values, values[1:])),
        }
    return report

if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "dump":
        dump(target)
    else:
        print(json.dumps(run(target)))
