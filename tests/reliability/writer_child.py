"""A process that rewrites one file forever with one of mge's writers (killed by the tests).

Usage: ``python writer_child.py WRITER TARGET REFS MIB``. It writes version A and version B
of a large file (a weight of ``MIB`` MiB) to ``REFS/a`` and ``REFS/b``, then A to ``TARGET``, prints
``ready <seconds one write took>`` and from then on writes B, A, B, ... to ``TARGET``
until it is killed. Every write goes through the writer under test, so ``TARGET`` must
always equal ``REFS/a`` or ``REFS/b`` byte for byte.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable

import numpy as np

import mge
import mge.module as M
from mge.jit import trace
from mge.tools import dump_with_testcase

FEATURES = [1024, 1024]  # a float32 weight; main() sets the second dim


def _traced(seed: int) -> trace:
    mge.random.seed(seed)
    net = M.Linear(*FEATURES)
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def infer(data, *, net):
        return net(data)

    infer(mge.tensor(np.zeros((1, FEATURES[0]), np.float32)), net=net)
    return infer


def trace_dump(seed: int) -> Callable[[str], None]:
    infer = _traced(seed)
    return lambda path: infer.dump(path, arg_names=["data"], output_names=["out"])


def save(seed: int) -> Callable[[str], None]:
    weights = np.random.default_rng(seed).random(FEATURES, dtype=np.float32)
    state = {"weight": mge.tensor(weights), "step": seed}
    return lambda path: mge.save(state, path)


def testcase_tool(seed: int) -> Callable[[str], None]:
    folder = os.path.dirname(sys.argv[3])
    model = os.path.join(folder, f"input-{seed}.mge")
    trace_dump(seed)(model)
    data = os.path.join(folder, "data.npy")
    np.save(data, np.linspace(0, 1, FEATURES[0], dtype=np.float32).reshape(1, -1))

    def write(path: str) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            status = dump_with_testcase.main([model, "-o", path, "-d", f"data:{data}"])
        if status:
            raise SystemExit(f"dump_with_testcase failed with status {status}")
    return write


WRITERS = {"trace_dump": trace_dump, "save": save, "dump_with_testcase": testcase_tool}


def main() -> None:
    kind, target, refs, mib = sys.argv[1:5]
    FEATURES[1] = 256 * int(mib)
    os.umask(0o077)  # a writer that ignores the file's mode would now make it 0600
    versions = [WRITERS[kind](1), WRITERS[kind](2)]
    versions[0](os.path.join(refs, "a"))
    versions[1](os.path.join(refs, "b"))
    start = time.perf_counter()
    versions[0](target)
    print(f"ready {time.perf_counter() - start:.6f}", flush=True)
    k = 1
    while True:
        versions[k % 2](target)
        k += 1


if __name__ == "__main__":
    main()
