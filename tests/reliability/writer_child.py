"""A process that rewrites one file forever with one of mge's writers (killed by the tests).

Usage: ``python writer_child.py WRITER TARGET REFS MIB``. It writes version A and version B
of a large file (about ``MIB`` MiB: a weight, an input, a cache entry) into the folders
``REFS/a`` and ``REFS/b`` (as ``TARGET``'s name), then A to ``TARGET``, prints
``ready <seconds one write took>`` (the first child of a test writes the versions; later
ones reuse them) and from then on writes B, A, B, ... to ``TARGET``
until it is killed. Every write goes through the writer under test, so ``TARGET`` must
always equal version A or B byte for byte (the profile, whose times change, must be
whole; batch-predict parts are new files, each equal to a version).

A writer is ``make(seed) -> write(path)``; writers that choose their file names
themselves (Lite's ``.npy`` dump, its memory report, batch-predict parts) write into
``path``'s folder and the test names the file to check.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import mge
import mge.functional as F
import mge.module as M
from mge.convert import onnx_to_mge, to_onnx
from mge.jit import trace
from mge.lite import LiteGlobal, LiteNetwork
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


def _scratch(name: str) -> str:
    """A path beside the test's folders for inputs the writers read."""
    return os.path.join(os.path.dirname(sys.argv[3]), name)


def _model_file(seed: int) -> str:
    path = _scratch(f"linear-{seed}.mge")
    trace_dump(seed)(path)
    return path


def _relu_model(seed: int) -> Callable[[], LiteNetwork]:
    """Lite networks over ``relu(data) * 2`` with an input of about MIB MiB fed (rows differ
    by seed, so the two versions of every report differ)."""
    rows = FEATURES[1] + seed

    @trace(symbolic=True, capture_as_const=True)
    def double_relu(data):
        return F.relu(data) * 2

    data = np.random.default_rng(seed).standard_normal((rows, 1024)).astype(np.float32)
    double_relu(mge.tensor(data))
    path = _scratch(f"relu-{seed}.mge")
    double_relu.dump(path, arg_names=["data"], output_names=["out"])

    def network() -> LiteNetwork:
        net = LiteNetwork()
        net.load(path)
        net.get_io_tensor("data").set_data_by_copy(data)
        return net
    return network


def to_onnx_writer(seed: int) -> Callable[[str], None]:
    model = _model_file(seed)
    return lambda path: to_onnx(model, path)


def onnx_to_mge_writer(seed: int) -> Callable[[str], None]:
    model = _scratch(f"linear-{seed}.onnx")
    to_onnx(_model_file(seed), model)
    return lambda path: onnx_to_mge(model, path)


def lite_profile(seed: int) -> Callable[[str], None]:
    network = _relu_model(seed)()

    def write(path: str) -> None:
        network.enable_profile_performance(path)
        network.forward()
        network.wait()
    return write


def lite_io_dump(binary: bool) -> Callable[[int], Callable[[str], None]]:
    def make(seed: int) -> Callable[[str], None]:
        new_network = _relu_model(seed)

        def write(path: str) -> None:
            network = new_network()  # a new dump starts at forward 1: the same files
            if binary:
                network.io_bin_dump(os.path.dirname(path))
            else:
                network.io_txt_dump(path)
            network.forward()
            network.wait()
        return write
    return make


def lite_memory_info(seed: int) -> Callable[[str], None]:
    network = _relu_model(seed)()
    return lambda path: network.get_static_memory_alloc_info(os.path.dirname(path))


def lite_layout_model(seed: int) -> Callable[[str], None]:
    network = LiteNetwork()
    network.load(_model_file(seed))
    return network.dump_layout_transform_model


def persistent_cache(seed: int) -> Callable[[str], None]:
    blob = np.random.default_rng(seed).bytes(FEATURES[1] * 4096)
    name, key = b"fastrun", f"conv{seed}".encode()
    source = _scratch(f"cache-{seed}.bin")
    with open(source, "wb") as f:  # MegEngine's format: 1 category of 1 entry
        for part in (b"\x01\x00\x00\x00", len(name).to_bytes(4, "little"), name,
                     b"\x01\x00\x00\x00", len(key).to_bytes(4, "little"), key,
                     len(blob).to_bytes(4, "little"), blob):
            f.write(part)

    def write(path: str) -> None:
        LiteGlobal.set_persistent_cache(source)
        LiteGlobal.dump_persistent_cache(path)
    return write


def batch_predict_part(seed: int) -> Callable[[str], None]:
    from mge.serve.batch_predict import write_part

    rows = np.random.default_rng(seed).standard_normal((FEATURES[1], 1024)).astype(np.float32)
    batch = {"id": np.array([f"img-{k}" for k in range(len(rows))]), "logits": rows}

    def write(path: str) -> None:
        write_part(Path(os.path.dirname(path)), batch)
    return write


WRITERS = {"trace_dump": trace_dump, "save": save, "dump_with_testcase": testcase_tool,
           "to_onnx": to_onnx_writer, "onnx_to_mge": onnx_to_mge_writer,
           "lite_profile": lite_profile, "lite_io_txt_dump": lite_io_dump(False),
           "lite_io_bin_dump": lite_io_dump(True), "lite_memory_info": lite_memory_info,
           "lite_layout_model": lite_layout_model, "persistent_cache": persistent_cache,
           "batch_predict_part": batch_predict_part}


def main() -> None:
    kind, target, refs, mib = sys.argv[1:5]
    FEATURES[1] = 256 * int(mib)
    os.umask(0o077)  # a writer that ignores the file's mode would now make it 0600
    versions = [WRITERS[kind](1), WRITERS[kind](2)]
    for version, folder in zip(versions, ("a", "b")):
        if not os.path.isdir(os.path.join(refs, folder)):  # the first child writes them
            os.makedirs(os.path.join(refs, folder))
            version(os.path.join(refs, folder, os.path.basename(target)))
    start = time.perf_counter()
    versions[0](target)
    print(f"ready {time.perf_counter() - start:.6f}", flush=True)
    k = 1
    while True:
        versions[k % 2](target)
        k += 1


if __name__ == "__main__":
    main()
