"""Models and servers for the mge.serve tests.

The real MobileNetV2 of ../shared/models is imported with mge's ONNX import and dumped as
``.mge`` twice: as it is (float32 NCHW; the repository's config gives the image mean/std) and
with its preprocessing inside (uint8 NHWC input). A server is ``python -m mge.serve`` in a
subprocess on a free 127.0.0.1 port; its stderr (the JSON access log) goes to a file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.examples.shared_data import MODELS, requires_shared

pytest.importorskip("fastapi", reason="mge.serve needs the serve extra (pip install 'mge[serve]')")
pytest.importorskip("uvicorn", reason="mge.serve needs the serve extra")
pytest.importorskip("prometheus_client", reason="mge.serve needs the serve extra")

ROOT = Path(__file__).resolve().parents[2]
MNV2_ONNX = MODELS / "mobilenet_v2_1.0_224_dq.onnx"
MODEL = "mobilenet_v2"
UINT8_MODEL = "mobilenet_v2_uint8"
MEAN_STD = {"mean": [127.5] * 3, "std": [127.5] * 3}


def dump_onnx_as_mge(source: Path, output: Path, preprocess_inside: bool = False) -> None:
    """Import ``source`` with mge's ONNX import and dump it as ``.mge``; with
    ``preprocess_inside`` the file takes uint8 NHWC pixels and normalises them itself."""
    import mge
    import mge.functional as F
    from mge.convert import from_onnx
    from mge.jit import trace

    module = from_onnx(str(source), trace=False)

    @trace(symbolic=True, capture_as_const=True)
    def run(x: mge.Tensor) -> object:
        if preprocess_inside:
            x = F.transpose(x.astype("float32") / 127.5 - 1.0, (0, 3, 1, 2))
        return module(x)

    shape = (1, 224, 224, 3) if preprocess_inside else (1, 3, 224, 224)
    run(mge.tensor(np.zeros(shape, np.uint8 if preprocess_inside else np.float32)))
    output.parent.mkdir(parents=True, exist_ok=True)
    run.dump(str(output), arg_names=["pixels" if preprocess_inside else "input"],
             output_names=list(module.output_names))


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository: mobilenet_v2 (float NCHW, labels, image mean/std) and
    mobilenet_v2_uint8 (preprocessing inside, labels)."""
    if not MNV2_ONNX.is_file():
        pytest.skip("../shared/models (the real MobileNetV2) not present")
    pytest.importorskip("onnx", reason="building the test model needs mge's ONNX import")
    root = tmp_path_factory.mktemp("repository")
    dump_onnx_as_mge(MNV2_ONNX, root / MODEL / "1" / "model.mge")
    dump_onnx_as_mge(MNV2_ONNX, root / UINT8_MODEL / "1" / "model.mge", preprocess_inside=True)
    for name in (MODEL, UINT8_MODEL):
        shutil.copy(MODELS / "imagenet_labels_1001.txt", root / name / "labels.txt")
    (root / MODEL / "config.json").write_text(json.dumps({"image": MEAN_STD}))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m mge.serve`` running in a subprocess."""

    def __init__(self, source: Path, options: Sequence[str], log: Path,
                 ready_timeout_s: float = 120.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mge.serve", str(source), "--port", str(self.port),
             *options], cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mge serve exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mge serve did not become ready:\n{self.log.read_text()}")

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, wait up to ``timeout_s``; the exit status (uvicorn re-raises SIGTERM once
        it has shut down cleanly, so a clean stop is -SIGTERM or 0; -SIGKILL: too slow)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode

    def stopped_cleanly(self) -> bool:
        """Stop; True when the server shut down cleanly."""
        status = self.stop()
        return status in (0, -signal.SIGTERM) and \
            "Application shutdown complete" in self.log.read_text()


@pytest.fixture(scope="module")
def server(model_repository: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    """The repository served with small limits (4 MB requests, batches of up to 8)."""
    pytest.importorskip("httpx", reason="the tests' HTTP client (dev extra)")
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc = ServerProcess(model_repository, ["--max-request-bytes", str(4 * 1024 * 1024),
                                            "--max-batch-size", "8"], log)
    yield proc
    proc.stop()


__all__ = ["MEAN_STD", "MODEL", "UINT8_MODEL", "ServerProcess", "dump_onnx_as_mge",
           "free_port", "requires_shared"]
