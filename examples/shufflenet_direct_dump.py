"""Walk-through 2: dump a ShuffleNetV2 directly with jit.trace, then inspect the file.

Run: ``python examples/shufflenet_direct_dump.py --out shufflenet.mge``
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

import mge
import mge.random
from mge import jit
from mge.core.tensor.megbrain_graph import load_graph
from mge.models import shufflenet_v2_x1_0


def build(out: str, input_size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Dump a seeded ShuffleNetV2 x1.0; returns (input, eager output)."""
    mge.random.seed(0)
    net = shufflenet_v2_x1_0(input_size=input_size)
    net.eval()
    data = mge.tensor(np.random.default_rng(0).random((1, 3, input_size, input_size),
                                                      dtype=np.float32))

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data):  # noqa: ANN001, ANN202
        return net(data)

    infer(data)
    infer.dump(out, arg_names=["data"], optimize_for_inference=True)
    graph = load_graph(out)
    ops = Counter(var.owner.type for var in _all_vars(graph.output_vars_list))
    print(f"{out}: outputs {list(graph.output_vars_dict)}; operator types: {dict(ops)}")
    return data.numpy(), net(data).numpy()


def _all_vars(outputs: list) -> list:
    seen, stack, order = set(), list(outputs), []
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        order.append(var)
        stack.extend(var.owner.inputs)
    return order


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="shufflenet.mge")
    build(parser.parse_args().out)
