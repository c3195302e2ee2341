"""Ray: ``mge serve --ray`` with 2 replicas (one killed mid-run) and ``batch-predict`` over
500 images with Ray Data, on a local Ray cluster bound to 127.0.0.1."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mge.lite import LiteNetwork
from mge.serve import ServeDefaults, discover
from tests.examples.shared_data import IMAGES, REFERENCE, reference_top5, requires_shared

from .conftest import MODEL, ServerProcess

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'mge[ray]') is not installed")
pytest.importorskip("ray.serve", reason="ray[serve] is not installed")
pytest.importorskip("ray.data", reason="ray[data] is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (ray[data]) is not installed")
httpx = pytest.importorskip("httpx", reason="the tests' HTTP client (dev extra)")
pytestmark = [pytest.mark.slow, requires_shared]

REF_STEM = "mobilenet_v2_1.0_224_dq"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster on 127.0.0.1; its GCS address. Serve's proxy gets a minute to
    answer its readiness and health checks (5 and 10 s by default; on a loaded 2-core
    machine the controller killed a proxy that was slow to start, and serve.start failed)."""
    for name in ("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S"):
        os.environ.setdefault(name, "60")  # the cluster and the served process inherit it
    context = ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1",
                       log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


def _replicas(count: int, timeout_s: float = 120.0) -> list[str]:
    """The Serve replica actors' names, once there are ``count`` (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a["name"].startswith("SERVE_REPLICA::")]
        if len(names) == count or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def _running_replicas(count: int, timeout_s: float = 180.0) -> int:
    """How many replicas Serve reports RUNNING (once there are ``count``, or at the timeout)."""
    from ray import serve

    deadline = time.monotonic() + timeout_s
    while True:
        running = sum(d.replica_states.get("RUNNING", 0)
                      for app in serve.status().applications.values()
                      for d in app.deployments.values())
        if running == count or time.monotonic() > deadline:
            return running
        time.sleep(0.5)


def _infer_with_retries(url: str, x: np.ndarray, attempts: int = 60) -> tuple[np.ndarray, int]:
    """The probs of one binary request, retried on errors; and how many retries it took."""
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape),
                                     "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "probs", "parameters": {"binary_data": True}}]})
    for attempt in range(attempts):
        try:
            reply = httpx.post(url, content=header.encode() + x.tobytes(), timeout=60,
                               headers={"Inference-Header-Content-Length": str(len(header))})
            if reply.status_code == 200:
                length = int(reply.headers["inference-header-content-length"])
                return np.frombuffer(reply.content[length:], np.float32), attempt
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no answer after {attempts} attempts")


def test_mge_serve_ray_two_replicas_survive_a_killed_replica(
        ray_cluster: str, model_repository: Path, tmp_path: Path) -> None:
    """``mge serve --ray --replicas 2`` (the command line, joining the test's cluster):
    one replica's process is killed mid-run and every request, retried by the client,
    still gets the reference top-5."""
    server = ServerProcess(model_repository / MODEL / "1" / "model.mge",
                           ["--name", MODEL, "--max-batch-size", "4", "--ray", "--replicas",
                            "2", "--ray-address", ray_cluster], tmp_path / "ray_serve.log",
                           ready_timeout_s=300.0)
    try:
        replicas = _replicas(2)
        assert len(replicas) == 2, replicas
        url = f"{server.url}/v2/models/{MODEL}/infer"
        metadata = httpx.get(f"{server.url}/v2/models/{MODEL}", timeout=30).json()
        assert metadata["inputs"][0]["shape"] == [-1, 3, 224, 224]
        images = {"cat": np.load(REFERENCE / "cat_224.npy"),
                  "chelsea": np.load(REFERENCE / "chelsea_224.npy")}
        names = ["cat", "chelsea"] * 30
        done = threading.Semaphore(0)

        def one(name: str) -> tuple[np.ndarray, int]:
            result = _infer_with_retries(url, images[name])
            done.release()
            return result

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(one, name) for name in names]
            for _ in range(15):
                done.acquire()
            ray.kill(ray.get_actor(replicas[0], namespace="serve"), no_restart=True)
            results = [f.result() for f in futures]
        # Serve replaces the killed replica (stopping while it still loads would make the
        # shutdown below wait for its model to load first)
        assert _running_replicas(2) == 2, "Serve did not replace the killed replica"
        for name, (probs, _) in zip(names, results):
            top5 = np.argsort(-probs, kind="stable")[:5].tolist()
            assert top5 == reference_top5(REF_STEM, name)
        print(f"retries after killing a replica: {sum(r for _, r in results)}")
    finally:
        status = server.stop(timeout_s=180.0)
    assert status in (0, -signal.SIGTERM), server.log.read_text()
    assert "Ray Serve shut down" in server.log.read_text()
    assert not _replicas(0, timeout_s=60.0)  # SIGTERM shut Serve down


def _make_images(folder: Path, start: int, stop: int) -> None:
    from PIL import Image

    photos = [Image.open(IMAGES / n).convert("RGB")
              for n in ("cat.bmp", "chelsea.png", "grace_hopper.bmp")]
    rng = np.random.default_rng(start)
    folder.mkdir(exist_ok=True)
    for i in range(start, stop):
        photo = photos[i % 3]
        w, h = photo.size
        box = (int(rng.integers(0, w // 6)), int(rng.integers(0, h // 6)),
               w - int(rng.integers(0, w // 6)), h - int(rng.integers(0, h // 6)))
        crop = photo.crop(box)
        if i % 2:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop.save(folder / f"img{i:04d}.jpg", quality=90)


def test_batch_predict_500_images_matches_lite(
        ray_cluster: str, model_repository: Path, tmp_path: Path) -> None:
    from mge.serve.batch_predict import batch_predict
    from mge.serve.cli import main
    from mge.serve.image import image_input
    from mge.serve.model import ServedModel

    photos, output = tmp_path / "photos", tmp_path / "predictions.parquet"
    _make_images(photos, 0, 500)
    assert main(["batch-predict", str(model_repository), "--name", MODEL, "--input",
                 str(photos), "--output", str(output), "--batch-size", "16",
                 "--top-k", "5"]) == 0
    table = pq.read_table(output).to_pydict()
    assert sorted(table["id"]) == [f"img{i:04d}.jpg" for i in range(500)]
    # run again: every row is already there, nothing is redone
    assert batch_predict(model_repository, photos, output, name=MODEL, progress=False) == 0

    spec = discover(model_repository, ServeDefaults())[0]
    assert spec.name == MODEL
    inputs = ServedModel(spec).inputs
    network = LiteNetwork()
    network.load(str(spec.path))
    for row, name in enumerate(table["id"]):
        x = image_input((photos / name).read_bytes(), inputs, spec.image)
        network.get_io_tensor("input").set_data_by_copy(x)
        network.forward()
        network.wait()
        for output_name in ("probs", "logits"):
            expected = network.get_io_tensor(output_name).to_numpy()[0]
            np.testing.assert_allclose(table[output_name][row], expected, rtol=1e-4,
                                       atol=1e-5, err_msg=f"{name}: {output_name}")
        probs = np.asarray(table["probs"][row])
        assert table["top_k"][row] == np.argsort(-probs, kind="stable")[:5].tolist()
        assert table["top_k"][row][0] == int(expected.argmax())
