"""mge.lite's own per-forward cost, measured in place.

On a sub-millisecond model the Python work around the engine call counts, and it costs
far more in place (the engine's run evicts the caches between two forwards) than in a
tight loop of the Python alone. This benchmark times, in interleaved blocks
(:mod:`block_timing`), ``LiteNetwork.forward(); wait()`` against the bare native call of
the very engine the network's plan runs (same model, same input array, same engine work)
and the engine's own Python wrapper on it:

* ``--backend onnxruntime``: ``native`` is the plan session's native ``run``,
  ``ort.run`` its Python wrapper ``session.run``;
* ``--backend openvino``: ``native`` is an infer request of the plan's compiled model
  with its input and output tensors set once to shared arrays and the native ``infer``
  called with nothing to dispatch; ``ov.infer`` is OpenVINO's Python
  ``request.infer({0: x}, share_inputs=True)`` (how ``bench/lite.py``'s ``openvino``
  peer runs).

The per-round differences of block medians are the wrappers' costs in microseconds, with
a bootstrap 95 % interval over the rounds. ``native-control`` is the native call timed
twice: its difference is the run's noise band; ``mge.lite-twin`` is ``mge.lite`` timed
twice (on a loaded 2-core machine the first engine of the list has measured up to 15 us
above its twin, unexplained: read both).

Usage (any mge tree: put it first on ``PYTHONPATH`` to compare two trees)::

    PYTHONPATH=$PWD:$PWD/bench python bench/lite_forward.py MODEL.mge [--threads 1]
        [--backend onnxruntime|openvino]

Example:
    >>> costs = wrapper_costs(load_network, "model.mge", threads=1)   # doctest: +SKIP
    >>> costs["mge.lite"]                                             # doctest: +SKIP
    ((4.1, 5.3, 6.8), (4.0, 5.1, 6.2))
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from block_timing import BOOTSTRAP, BlockTiming, time_blocks


def load_network(path: str, threads: int, backend: str = "onnxruntime") -> Any:
    """A ``LiteNetwork`` on plan ``backend`` with its input set by share."""
    from mge.lite import LiteConfig, LiteNetwork

    config = LiteConfig()
    config.plan_backend = backend
    net = LiteNetwork(config)
    net.threads_number = threads
    net.load(path)
    data = net.get_io_tensor(net.get_input_name(0))
    shape = data.layout.shapes
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    data.set_data_by_share(x)
    return net


def runs_of(net: Any) -> dict[str, Callable[[], object]]:
    """The timed calls: mge.lite's forward (and with an output read), and the engine's
    wrapper and its native call on the plan's own compiled model, with the network's
    input (see module doc)."""
    plan = net.plan
    x = net.get_io_tensor(net.get_input_name(0)).get_data_by_share()
    out = net.get_io_tensor(net.get_output_name(0))
    engine = openvino_runs(plan, x) if hasattr(plan._runner, "compiled") else \
        onnxruntime_runs(plan, x)

    def lite() -> None:
        net.forward()
        net.wait()

    def lite_read() -> object:
        net.forward()
        net.wait()
        return out.get_data_by_share()

    return {"mge.lite": lite, "mge.lite+read": lite_read, "mge.lite-twin": lambda: lite(),
            **engine, "native-control": engine["native"]}


def onnxruntime_runs(plan: Any, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """``ort.run`` and ``native`` on the plan's onnxruntime session."""
    session = plan._runner.session
    native = session._sess
    feeds = {"in0": x}
    outputs = [f"out{k}" for k in range(len(plan.outputs))]
    return {"ort.run": lambda: session.run(outputs, feeds),
            "native": lambda: native.run(outputs, feeds, None)}


def openvino_runs(plan: Any, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """``ov.infer`` and ``native`` on two infer requests of the plan's compiled model."""
    import openvino
    from openvino._pyopenvino import InferRequest

    compiled = plan._runner.compiled
    public, bound = compiled.create_infer_request(), compiled.create_infer_request()
    bound.set_input_tensor(0, openvino.Tensor(x, shared_memory=True))
    buffers = [np.empty(v.shape, v.dtype) for v in plan.outputs]  # alive while timed
    for k, buf in enumerate(buffers):
        bound.set_output_tensor(k, openvino.Tensor(buf, shared_memory=True))
    first = compiled.output(0)
    return {"ov.infer": lambda: public.infer({0: x}, share_inputs=True)[first],
            "native": lambda: (InferRequest.infer(bound, {}, True, False), buffers)}


def difference_us(t: BlockTiming, engine: str, other: str, col: int = 0,
                  seed: int = 0) -> tuple[float, float, float]:
    """(low, median, high): the median over rounds of ``engine``'s block median minus
    ``other``'s, in microseconds, with a bootstrap 95 % interval; ``col`` 0: wall time,
    1: the process's CPU time (what a loaded machine's preemptions do not inflate)."""
    pairs = np.array([(a[col] - b[col]) * 1e3 for a, b in zip(t.blocks[engine],
                                                              t.blocks[other], strict=True)
                      if a is not None and b is not None])
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(pairs, (BOOTSTRAP, len(pairs))), axis=1)
    return float(np.percentile(boot, 2.5)), float(np.median(pairs)), \
        float(np.percentile(boot, 97.5))


def wrapper_costs(load: Callable[..., Any], path: str, threads: int = 1,
                  rounds: int = 30, block_ms: float = 20.0, backend: str = "onnxruntime"
                  ) -> dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]]:
    """Each timed call's cost over the native call, in microseconds (see module doc):
    (wall, CPU) differences, each (low, median, high)."""
    runs = runs_of(load(path, threads, backend))
    t = time_blocks(runs, rounds=rounds, block_ms=block_ms, max_iters=400)
    for name in runs:
        print(f"  {name:16s} median {t.median(name) * 1e3:8.1f} us wall, "
              f"{t.median(name, 1) * 1e3:8.1f} us CPU  ({t.iters[name]} runs a block)")
    return {name: (difference_us(t, name, "native"), difference_us(t, name, "native", 1))
            for name in runs if name != "native"}


def main() -> None:
    import mge

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a .mge file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "openvino"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block-ms", type=float, default=20.0)
    args = parser.parse_args()
    print(f"mge from {mge.__file__}; {args.model}, {args.threads} thread(s), "
          f"{args.backend}")
    costs = wrapper_costs(load_network, args.model, args.threads, args.rounds, args.block_ms,
                          args.backend)
    for name, ((lo, mid, hi), (clo, cmid, chi)) in costs.items():
        print(f"  {name:16s} - native: {mid:6.1f} us wall [{lo:.1f}, {hi:.1f}], "
              f"{cmid:6.1f} us CPU [{clo:.1f}, {chi:.1f}]")


if __name__ == "__main__":
    main()
