"""Eager ResNet-18 batch-1 forward: mge on numpy, mge on torch and plain PyTorch, same weights.

Run: ``python bench/eager.py [--iters 20]``. Prints medians (ms) per thread count and
the ratio of each engine to plain PyTorch; the target is mge-torch within 1.15x.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_ms, median_ms, print_table, set_threads  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per engine")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)

    import torch
    from torch_twins import ResNet18, load_from_mge

    import mge
    from mge.models import resnet18

    mge.random.seed(0)
    net = resnet18()
    net.eval()
    twin = load_from_mge(ResNet18(), net.state_dict())
    x_np = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    x_torch = torch.from_numpy(x_np)

    x = mge.tensor(x_np)

    def run_mge(backend: str):  # noqa: ANN202
        def fn() -> object:
            mge.set_default_backend(backend)
            return net(x)

        return fn

    rows = []
    for threads in args.threads:
        set_threads(threads)
        with torch.no_grad():
            t = interleaved_ms({"pytorch": lambda: twin(x_torch), "mge-torch": run_mge("torch")},
                               iters=args.iters)
        t_mge_numpy = median_ms(run_mge("numpy"), warmup=1, iters=max(3, args.iters // 4))
        rows.append([threads, t["pytorch"], t["mge-torch"], t_mge_numpy,
                     t["mge-torch"] / t["pytorch"], t_mge_numpy / t["pytorch"]])
    mge.set_default_backend("torch")
    with torch.no_grad():
        ref = twin(x_torch).numpy()
    diff = float(np.abs(net(mge.tensor(x_np)).numpy() - ref).max())
    print_table(
        "ResNet-18, batch 1, float32, eager forward (median ms)",
        ["threads", "pytorch", "mge-torch", "mge-numpy", "mge-torch/pytorch",
         "mge-numpy/pytorch"],
        rows,
    )
    print(f"\nmax |mge - pytorch| on the logits: {diff:.2e}")


if __name__ == "__main__":
    main()
