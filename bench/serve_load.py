"""Load test: ``mge serve`` (dynamic batching) against onnxruntime behind a plain FastAPI
endpoint (no batching), ResNet-18, on 127.0.0.1.

All servers take the same KServe v2 binary request (one 1x3x224x224 float32 image) and get
the same CPU budget: two inferences at once, one thread each. mge serve runs ``--instances
2 --threads 1`` (one server per ``--backends`` entry: mge.lite's onnxruntime plan, the
baseline's engine, isolates what batching does; OpenVINO is the other CPU backend); the
baseline runs one onnxruntime session (one intra-op thread) from a pool of 2 threads.

For each concurrency (1, 8, 32) an asyncio/httpx client keeps that many requests in flight,
bounded by a request count and a time limit, split into ``--rounds`` rounds that alternate
the servers' order (A B C, C B A, ...) so that the shared machine's changing load hits all
alike. It reports throughput, p50/p99 latency, the server process's CPU time per request
(from /proc: on a machine shared with other work, throughput follows the CPU share a server
gets, while CPU per request is what the server itself costs) and, for mge serve, requests
per executed batch (from /metrics). Then an open-loop overload at 4x the first mge serve's
concurrency-32 throughput checks that every request ends as 200 or 503, none lost or hung.

The ResNet-18 has seeded random weights (``mge.models.resnet18``); mge dumps it as ``.mge``
and exports the same graph to ONNX (``mge.convert.to_onnx``) for the baseline.

Usage:
    PYTHONPATH=$PWD python bench/serve_load.py [--requests 300] [--seconds 30] [--rounds 4]
        [--backends onnxruntime,openvino] [--max-batch-size 16]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request, Response

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODEL = "resnet18"
CONCURRENCY = (1, 8, 32)
WORKERS = 2  # networks running at once in each server, one CPU thread each
BASELINE = "onnxruntime+FastAPI"


# ---------------------------------------------------------------- models
def prepare_models(workdir: Path) -> tuple[Path, Path]:
    """ResNet-18 as ``.mge`` and as ONNX (same weights), written once into ``workdir``."""
    mge_path, onnx_path = workdir / f"{MODEL}.mge", workdir / f"{MODEL}.onnx"
    if mge_path.exists() and onnx_path.exists():
        return mge_path, onnx_path
    import mge
    from mge import models
    from mge.convert import to_onnx
    from mge.jit import trace

    mge.random.seed(0)
    net = models.resnet18()
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    pred(mge.tensor(np.zeros((1, 3, 224, 224), np.float32)))
    pred.dump(str(mge_path), arg_names=["data"], output_names=["logits"])
    to_onnx(str(mge_path), str(onnx_path))
    return mge_path, onnx_path


# ---------------------------------------------------------------- the baseline server
def baseline_app(onnx_path: str) -> FastAPI:
    """FastAPI + onnxruntime, one request = one session run, no batching; at most
    ``WORKERS`` runs at once (FastAPI's default pool would run up to 6 and, on a shared
    machine, take a larger share of the CPU than mge serve's 2 networks)."""
    import concurrent.futures

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    pool = concurrent.futures.ThreadPoolExecutor(WORKERS)
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        body = await request.body()
        length = int(request.headers["inference-header-content-length"])
        header = json.loads(body[:length])
        shape = header["inputs"][0]["shape"]
        x = np.frombuffer(body[length:], np.float32).reshape(shape)
        loop = asyncio.get_running_loop()
        [logits] = await loop.run_in_executor(pool, session.run, None, {input_name: x})
        blob = np.ascontiguousarray(logits, np.float32).tobytes()
        out = json.dumps({"model_name": name, "outputs": [{
            "name": "logits", "shape": list(logits.shape), "datatype": "FP32",
            "parameters": {"binary_data_size": len(blob)}}]}).encode()
        return Response(out + blob, media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(len(out))})

    return app


# ---------------------------------------------------------------- the client
def _request(x: np.ndarray) -> tuple[bytes, dict[str, str]]:
    header = json.dumps({"inputs": [{"name": "data", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "logits",
                                      "parameters": {"binary_data": True}}]}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


@dataclasses.dataclass
class Level:
    """What one server did at one concurrency, summed over the interleaved rounds."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    other: int = 0
    cpu_seconds: float = 0.0
    batched: tuple[float, float] = (0.0, 0.0)  # (requests, batches), mge serve only

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        ok = len(self.latencies)
        return 1e3 * self.cpu_seconds / ok if ok else float("nan")

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1e3 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self, label: str, concurrency: int) -> tuple[object, ...]:
        requests, batches = self.batched
        ok = len(self.latencies)
        return (label, concurrency, ok, round(self.rps, 1), round(self.percentile_ms(0.5), 1),
                round(self.percentile_ms(0.99), 1), self.other,
                round(self.cpu_ms_per_request, 1),
                f"{requests / batches:.2f}" if batches else "")


async def closed_loop(url: str, concurrency: int, requests: int, seconds: float,
                      level: Level) -> None:
    """``concurrency`` workers send back-to-back requests until ``requests`` are done or
    ``seconds`` pass; adds the latencies of the successful ones and the time to ``level``."""
    import httpx

    body, headers = _request(np.random.default_rng(0).standard_normal(
        (1, 3, 224, 224)).astype(np.float32))
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < requests and time.perf_counter() < deadline:
            issued += 1
            start = time.perf_counter()
            reply = await client.post(url, content=body, headers=headers)
            if reply.status_code == 200:
                level.latencies.append(time.perf_counter() - start)
            else:
                level.other += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        level.seconds += time.perf_counter() - start


async def open_loop(url: str, rate: float, count: int, timeout_s: float) -> dict[int | str, int]:
    """``count`` requests at ``rate`` per second regardless of answers; how each ended."""
    import httpx

    body, headers = _request(np.zeros((1, 3, 224, 224), np.float32))
    outcomes: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        async def one(k: int) -> None:
            await asyncio.sleep(k / rate)
            try:
                reply = await client.post(url, content=body, headers=headers)
                key: int | str = reply.status_code
                if key == 503 and "retry-after" not in reply.headers:
                    key = "503 without Retry-After"
            except httpx.TimeoutException:
                key = "client timeout (hung)"
            except httpx.TransportError as exc:
                key = f"transport error ({type(exc).__name__})"
            outcomes[key] = outcomes.get(key, 0) + 1

        await asyncio.gather(*(one(k) for k in range(count)))
    return outcomes


# ---------------------------------------------------------------- servers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess on 127.0.0.1, waited for until it answers."""

    def __init__(self, command: Sequence[str], log: Path) -> None:
        import httpx

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([*command, "--port", str(self.port)], cwd=ROOT, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        for _ in range(1200):
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited; see {log}")
            try:
                httpx.get(f"{self.base}/v2/models/{MODEL}", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.25)
        raise RuntimeError(f"{command[:4]} did not start; see {log}")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (all its threads), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self._log.close()


def batch_counts(base: str) -> tuple[float, float]:
    """(requests batched, batches run) so far, from mge serve's /metrics."""
    import httpx

    text = httpx.get(f"{base}/metrics", timeout=30).text

    def value(name: str) -> float:
        match = re.search(rf'^{name}\{{model="{MODEL}"\}} (\S+)$', text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("mge_serve_batch_requests_sum"), value("mge_serve_batch_requests_count")


def run(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mge_path, onnx_path = prepare_models(workdir)
    url = "{}/v2/models/" + MODEL + "/infer"
    rows = []
    servers: dict[str, Server] = {}
    try:
        for backend in args.backends.split(","):
            servers[f"mge serve ({backend})"] = Server(
                [sys.executable, "-m", "mge.serve", str(mge_path), "--name", MODEL,
                 "--backend", backend, "--instances", str(WORKERS), "--threads", "1",
                 "--max-batch-size", str(args.max_batch_size), "--max-queue-delay-ms",
                 str(args.delay_ms), "--max-queue-size", "64"],
                workdir / f"mge_serve_{backend}.log")
        servers[BASELINE] = Server([sys.executable, str(Path(__file__).resolve()),
                                    "--baseline-server", str(onnx_path)],
                                   workdir / "baseline.log")
        for server in servers.values():  # warm-up: first requests, connections
            asyncio.run(closed_loop(url.format(server.base), 8, 16, 30, Level()))
        results: dict[tuple[str, int], Level] = {}
        for concurrency in CONCURRENCY:
            for label in servers:
                results[label, concurrency] = Level()
            for round_ in range(args.rounds):  # A B, B A, A B...: drifting load hits both
                order = list(servers.items())
                for label, server in order if round_ % 2 == 0 else reversed(order):
                    level = results[label, concurrency]
                    before = batch_counts(server.base) if label != BASELINE else None
                    cpu = server.cpu_seconds()
                    asyncio.run(closed_loop(url.format(server.base), concurrency,
                                            args.requests // args.rounds,
                                            args.seconds / args.rounds, level))
                    level.cpu_seconds += server.cpu_seconds() - cpu
                    if before is not None:
                        after = batch_counts(server.base)
                        level.batched = (level.batched[0] + after[0] - before[0],
                                         level.batched[1] + after[1] - before[1])
            rows.extend(results[label, concurrency].row(label, concurrency)
                        for label in servers)
        print_rows(rows)
        for label in list(servers)[:-1]:
            for concurrency in CONCURRENCY:
                mine, theirs = results[label, concurrency], results[BASELINE, concurrency]
                print(f"{label} / baseline at concurrency {concurrency:2d}: throughput "
                      f"{mine.rps / theirs.rps:.2f}x, server CPU per request "
                      f"{mine.cpu_ms_per_request / theirs.cpu_ms_per_request:.2f}x")
        label = next(iter(servers))
        rate = 4 * results[label, 32].rps
        count = max(int(rate * args.overload_seconds), 32)
        outcomes = asyncio.run(open_loop(url.format(servers[label].base), rate, count, 120))
        print(f"overload of {label}: {count} requests at {rate:.1f}/s (4x its concurrency-32 "
              f"throughput) -> {outcomes}")
    finally:
        for server in servers.values():
            server.stop()


def print_rows(rows: list[tuple[object, ...]]) -> None:
    sys.path.insert(0, str(BENCH))
    from common import print_table

    print_table("ResNet-18, one image per request, 127.0.0.1",
                ["server", "concurrency", "ok", "req/s", "p50 ms", "p99 ms", "non-200",
                 "server CPU ms/req", "req/batch"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300,
                        help="requests per level at most (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="seconds per level at most (default %(default)s)")
    parser.add_argument("--backends", default="onnxruntime,openvino",
                        help="mge serve's plan backends, one server each, comma-separated "
                             "(default %(default)s)")
    parser.add_argument("--max-batch-size", type=int, default=16,
                        help="mge serve's --max-batch-size (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="interleaved rounds per level, split the limits (default "
                             "%(default)s)")
    parser.add_argument("--overload-seconds", type=float, default=5.0,
                        help="length of the 4x overload burst (default %(default)s)")
    parser.add_argument("--delay-ms", type=float, default=2.0,
                        help="mge serve's --max-queue-delay-ms (default %(default)s)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(),
                                                          "mge_serve_bench"))
    parser.add_argument("--baseline-server", metavar="ONNX", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        import uvicorn

        uvicorn.run(baseline_app(args.baseline_server), host="127.0.0.1", port=args.port,
                    access_log=False, log_level="warning")
        return
    run(args)


if __name__ == "__main__":
    main()
