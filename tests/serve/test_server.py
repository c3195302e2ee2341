"""``mge serve`` on the real MobileNetV2, through tritonclient's HTTP client, curl and httpx:
the reference top-5 for cat.bmp, protocol errors, metrics, access logs, overload, shutdown."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.examples.shared_data import IMAGES, REFERENCE, reference_top5, requires_shared

from .conftest import MODEL, UINT8_MODEL, ServerProcess

httpx = pytest.importorskip("httpx", reason="the tests' HTTP client (dev extra)")
pytestmark = requires_shared

CAT = IMAGES / "cat.bmp"
REF_STEM = "mobilenet_v2_1.0_224_dq"


def _cat_tensor() -> np.ndarray:
    return np.load(REFERENCE / "cat_224.npy")


def _top5(scores: np.ndarray) -> list[int]:
    return np.argsort(-scores.reshape(-1), kind="stable")[:5].tolist()


def test_tritonclient_gets_the_reference_top5(server: ServerProcess) -> None:
    http = pytest.importorskip("tritonclient.http",
                               reason="tritonclient[http] (dev extra) not installed")
    client = http.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL)
    metadata = client.get_model_metadata(MODEL)
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32",
                                   "shape": [-1, 3, 224, 224]}]
    config = client.get_model_config(MODEL)
    assert config["max_batch_size"] == 8
    assert config["dynamic_batching"]["preferred_batch_size"] == [1, 2, 4, 8]
    x = _cat_tensor()
    batch = np.concatenate([x, x[:, :, ::-1].copy()])  # the cat and its upside-down twin
    inp = http.InferInput("input", list(batch.shape), "FP32")
    inp.set_data_from_numpy(batch, binary_data=True)
    outputs = [http.InferRequestedOutput("probs", binary_data=True),
               http.InferRequestedOutput("logits", binary_data=False, class_count=5)]
    result = client.infer(MODEL, [inp], outputs=outputs, request_id="cat-1")
    probs = result.as_numpy("probs")
    assert probs.shape == (2, 1001)
    assert _top5(probs[0]) == reference_top5(REF_STEM, "cat")
    reference = np.load(REFERENCE / f"{REF_STEM}__cat_probs.npy")
    np.testing.assert_allclose(probs[:1], reference, atol=1e-4)
    classes = result.as_numpy("logits")
    assert classes.shape == (2, 5)
    first = [c.decode() if isinstance(c, bytes) else c for c in classes[0]]
    assert [int(c.split(":")[1]) for c in first] == reference_top5(REF_STEM, "cat")
    assert first[0].endswith(":Egyptian cat")
    with pytest.raises(http.InferenceServerException, match="has shape"):
        bad = http.InferInput("input", [1, 3, 224, 223], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 3, 224, 223), np.float32))
        client.infer(MODEL, [bad])


def test_kserve_client_gets_the_reference_top5(server: ServerProcess) -> None:
    kserve = pytest.importorskip("kserve", reason="KServe's Python SDK (pip install kserve) "
                                                  "is not installed")
    from kserve.protocol.infer_type import RequestedOutput

    x = _cat_tensor()
    batch = np.concatenate([x, x[:, :, ::-1].copy()])  # the cat and its upside-down twin

    async def scenario() -> tuple[bool, bool, list[Any]]:
        config = kserve.RESTConfig(protocol="v2", timeout=60)
        async with kserve.InferenceRESTClient(config) as client:
            live = await client.is_server_live(server.url)
            ready = await client.is_model_ready(server.url, MODEL)
            binary = kserve.InferInput("input", list(batch.shape), "FP32")
            binary.set_data_from_numpy(batch, binary_data=True)
            as_json = kserve.InferInput("input", list(x.shape), "FP32")
            as_json.set_data_from_numpy(x, binary_data=False)
            replies = [await client.infer(server.url, kserve.InferRequest(
                MODEL, [tensor], request_id=f"kserve-{k}",
                request_outputs=[RequestedOutput("probs", {"binary_data": k == 0})]),
                model_name=MODEL) for k, tensor in enumerate((binary, as_json))]
        return live, ready, replies

    live, ready, replies = asyncio.run(scenario())
    assert live and ready
    reference = np.load(REFERENCE / f"{REF_STEM}__cat_probs.npy")
    for reply, rows in zip(replies, (2, 1)):
        assert reply.id.startswith("kserve-") and reply.model_name == MODEL
        [output] = reply.outputs
        probs = output.as_numpy()
        assert output.name == "probs" and probs.shape == (rows, 1001)
        assert _top5(probs[0]) == reference_top5(REF_STEM, "cat")
        np.testing.assert_allclose(probs[:1], reference, atol=1e-4)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_json_inference_and_image_upload(server: ServerProcess, tmp_path: Path) -> None:
    request = {"id": "curl", "inputs": [{"name": "input", "shape": [1, 3, 224, 224],
                                         "datatype": "FP32",
                                         "data": _cat_tensor().ravel().tolist()}],
               "outputs": [{"name": "probs"}]}
    body = tmp_path / "request.json"
    body.write_text(json.dumps(request))
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-X", "POST",
                          "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
                          f"{server.url}/v2/models/{MODEL}/infer"],
                         capture_output=True, check=True, timeout=120).stdout
    response = json.loads(out)
    assert response["id"] == "curl" and response["model_name"] == MODEL
    [probs] = response["outputs"]
    assert probs["shape"] == [1, 1001] and probs["datatype"] == "FP32"
    assert _top5(np.array(probs["data"])) == reference_top5(REF_STEM, "cat")
    for model in (MODEL, UINT8_MODEL):
        out = subprocess.run(["curl", "-sS", "--fail-with-body", "-F", f"image=@{CAT}",
                              f"{server.url}/v2/models/{model}/classify?top_k=5"],
                             capture_output=True, check=True, timeout=120).stdout
        answer = json.loads(out)
        assert [c["index"] for c in answer["top_k"]] == reference_top5(REF_STEM, "cat")
        assert answer["top_k"][0]["label"] == "Egyptian cat"


def test_raw_image_body(server: ServerProcess) -> None:
    reply = httpx.post(f"{server.url}/v2/models/{UINT8_MODEL}/versions/1/classify",
                       params={"top_k": 2}, content=CAT.read_bytes(),
                       headers={"Content-Type": "image/bmp"}, timeout=60)
    assert reply.status_code == 200, reply.text
    assert [c["index"] for c in reply.json()["top_k"]] == reference_top5(REF_STEM, "cat")[:2]


def _infer_json(shape: list[int], datatype: str = "FP32", name: str = "input") -> dict:
    count = int(np.prod(shape))
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype,
                        "data": [0] * count}]}


ERRORS = [
    ("post", f"/v2/models/{MODEL}/infer", {"json": _infer_json([1, 3, 224, 224], name="img")},
     400, r"unknown: \['img'\], missing: \['input'\]"),
    ("post", f"/v2/models/{MODEL}/infer", {"json": _infer_json([1, 3, 32, 32])},
     400, r"has shape \[-1, 3, 224, 224\], got \[1, 3, 32, 32\]"),
    ("post", f"/v2/models/{MODEL}/infer", {"json": _infer_json([1, 3, 224, 224], "INT32")},
     400, "is FP32, got INT32"),
    ("post", f"/v2/models/{MODEL}/infer", {"json": _infer_json([1, 3, 224, 224], "FLOAT32")},
     400, "unsupported datatype 'FLOAT32'"),
    ("post", f"/v2/models/{MODEL}/infer", {"content": b'{"inputs": [}'}, 400, "malformed JSON"),
    ("post", f"/v2/models/{MODEL}/infer", {"content": b"x" * (5 * 1024 * 1024)}, 413,
     "limit is 4194304"),
    ("post", f"/v2/models/{MODEL}/infer",
     {"json": {**_infer_json([1, 3, 224, 224]), "outputs": [{"name": "nope"}]}}, 400,
     r"no outputs \['nope'\]"),
    ("post", f"/v2/models/{MODEL}/infer", {"json": _infer_json([9, 3, 224, 224])}, 400,
     "batches of 1 to 8, got 9"),
    ("post", f"/v2/models/{MODEL}/infer",  # Triton's per-request timeout, in microseconds
     {"json": {**_infer_json([1, 3, 224, 224]), "parameters": {"timeout": 1}}}, 504,
     "timed out after 0 ms"),
    ("post", "/v2/models/resnet/infer", {"json": _infer_json([1])}, 404, "unknown model"),
    ("get", f"/v2/models/{MODEL}/versions/7", {}, 404, "has no version '7'"),
    ("get", "/v2/nothing/here", {}, 404, "Not Found"),
    ("post", f"/v2/models/{MODEL}/classify", {"content": b"not an image"}, 400,
     "not an image Pillow can read"),
    ("post", f"/v2/models/{MODEL}/classify", {"params": {"top_k": "many"},
                                              "content": b"x"}, 400, "top_k"),
]


@pytest.mark.parametrize("method, path, kwargs, status, message", ERRORS,
                         ids=[f"{e[3]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_use_the_protocol_format(server: ServerProcess, method: str, path: str,
                                        kwargs: dict, status: int, message: str) -> None:
    reply = getattr(httpx, method)(f"{server.url}{path}", timeout=60, **kwargs)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert re.search(message, error), error
    assert "Traceback" not in error
    ok = httpx.get(f"{server.url}/v2/health/ready", timeout=10)  # and still serving
    assert ok.status_code == 200


def test_metrics_and_access_log(server: ServerProcess) -> None:
    reply = httpx.post(f"{server.url}/v2/models/{UINT8_MODEL}/classify",
                       files={"image": CAT.read_bytes()}, timeout=60)
    assert reply.status_code == 200
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for name in ("mge_serve_requests_total", "mge_serve_request_duration_seconds_bucket",
                 "mge_serve_queue_depth", "mge_serve_batch_size_bucket",
                 "mge_serve_batch_requests_bucket",
                 "mge_serve_inference_duration_seconds_bucket"):
        assert name in text
    assert re.search(r'mge_serve_requests_total\{endpoint="/v2/models/\{name\}/classify",'
                     rf'model="{UINT8_MODEL}",status="200"\}} [1-9]', text)
    assert re.search(rf'mge_serve_batch_size_count\{{model="{UINT8_MODEL}"\}} [1-9]', text)
    entries = [json.loads(line) for line in server.log.read_text().splitlines()
               if line.startswith("{")]
    mine = [e for e in entries if e["path"] == f"/v2/models/{UINT8_MODEL}/classify"]
    assert mine and mine[-1]["status"] == 200 and mine[-1]["model"] == UINT8_MODEL
    assert {"ts", "client", "method", "duration_ms", "response_bytes"} <= set(mine[-1])


def _binary_infer(url: str, x: np.ndarray) -> httpx.Response:
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape),
                                     "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "probs", "parameters": {"binary_data": True}}]})
    return httpx.post(f"{url}/v2/models/{MODEL}/infer", content=header.encode() + x.tobytes(),
                      headers={"Inference-Header-Content-Length": str(len(header))},
                      timeout=120)


def _single_model(repository: Path) -> Path:
    return repository / MODEL / "1" / "model.mge"


@pytest.mark.slow
def test_overload_answers_every_request_with_200_or_503(
        model_repository: Path, tmp_path: Path) -> None:
    proc = ServerProcess(_single_model(model_repository),
                         ["--name", MODEL, "--max-batch-size", "2", "--max-queue-size", "2"],
                         tmp_path / "server.log")
    try:
        x = _cat_tensor()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda _: _binary_infer(proc.url, x), range(48)))
    finally:
        assert proc.stopped_cleanly()
    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {200, 503}, statuses
    for reply in replies:
        if reply.status_code == 503:
            assert reply.headers["retry-after"] == "1" and "overloaded" in reply.json()["error"]
        else:
            length = int(reply.headers["inference-header-content-length"])
            probs = np.frombuffer(reply.content[length:], np.float32)
            assert _top5(probs) == reference_top5(REF_STEM, "cat")


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests(model_repository: Path, tmp_path: Path) -> None:
    # batches wait up to 5 s for more requests, so these 3 are still queued at SIGTERM
    proc = ServerProcess(_single_model(model_repository),
                         ["--name", MODEL, "--max-batch-size", "8",
                          "--max-queue-delay-ms", "5000"], tmp_path / "server.log")
    x = _cat_tensor()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_binary_infer, proc.url, x) for _ in range(3)]
        for _ in range(600):
            metrics = httpx.get(f"{proc.url}/metrics", timeout=10).text
            if f'mge_serve_queue_depth{{model="{MODEL}"}} 3.0' in metrics:
                break
        else:
            pytest.fail("the 3 requests never reached the queue")
        assert proc.stopped_cleanly()
        replies = [f.result() for f in futures]
    assert [r.status_code for r in replies] == [200, 200, 200]
