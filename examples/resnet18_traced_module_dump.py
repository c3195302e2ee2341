"""Walk-through 1: ResNet-18 through TracedModule: trace_module -> optimize -> dump.

Run: ``python examples/resnet18_traced_module_dump.py --out resnet18.mge``
"""

from __future__ import annotations

import argparse

import numpy as np

import mge
import mge.module as M
import mge.random
import mge.traced_module as tm
from mge import jit
from mge.models import resnet18


def build(out: str, input_size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Dump a seeded ResNet-18 via TracedModule; returns (input, eager output)."""
    mge.random.seed(0)
    net = resnet18(input_size=input_size)
    net.eval()
    data = mge.tensor(np.random.default_rng(0).random((1, 3, input_size, input_size),
                                                      dtype=np.float32))
    traced = tm.trace_module(net, data)
    print(f"traced: {traced.graph.get_module_by_type(M.BatchNorm2d).as_count()} BatchNorm2d")
    traced = tm.optimize(traced, enabled_pass=["FuseConvBn", "FuseAddMul", "BackwardFoldScale"])
    print(f"optimized: {traced.flatten().graph.get_module_by_type(M.BatchNorm2d).as_count()}"
          " BatchNorm2d")

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data, *, net):  # noqa: ANN001, ANN202
        return net(data)

    infer(data, net=traced)
    result = infer.dump(out, arg_names=["data"], optimize_for_inference=True,
                        enable_fuse_conv_bias_nonlinearity=True)
    print(f"dumped {out}: {result.nr_opr} operators, {result.tot_bytes} bytes")
    return data.numpy(), net(data).numpy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="resnet18.mge")
    build(parser.parse_args().out)
