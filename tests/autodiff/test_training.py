"""The training yardstick of issue 17: 200 SGD-momentum steps of a small CNN (conv, BN,
ReLU, max pooling, linear, cross entropy) give the loss curve of real MegEngine 1.13 and
of PyTorch within 1e-3 relative, on the numpy and the torch backend.

``tests/fixtures/train/small_cnn_megengine_losses.npy`` is what real MegEngine printed:
``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/train_small_cnn.py
tests/fixtures/train/small_cnn_megengine_losses.npy`` (``test_oracle_still_agrees`` reruns it).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mge.backends import available_backends
from tests.oracle import REPO, oracle_python, requires_oracle
from tools.oracle import train_small_cnn as script

GOLDEN = REPO / "tests" / "fixtures" / "train" / "small_cnn_megengine_losses.npy"
RTOL = 1e-3


def _mge_losses(tmp_path, backend: str) -> np.ndarray:
    out = tmp_path / f"losses_{backend}.npy"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "mge.compat", "run", script.__file__, str(out),
                    "--backend", backend], check=True, env=env, cwd=REPO, timeout=600,
                   capture_output=True)
    return np.load(out)


def _torch_losses() -> np.ndarray:
    torch = pytest.importorskip("torch")
    nn, tf = torch.nn, torch.nn.functional
    p = script.make_problem()
    conv, bn, fc = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8, eps=1e-5), nn.Linear(288, 10)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(p["conv_w"]))
        conv.bias.copy_(torch.from_numpy(p["conv_b"].reshape(-1)))
        fc.weight.copy_(torch.from_numpy(p["fc_w"]))
        fc.bias.copy_(torch.from_numpy(p["fc_b"]))
    params = [*conv.parameters(), *bn.parameters(), *fc.parameters()]
    opt = torch.optim.SGD(params, lr=script.LR, momentum=script.MOMENTUM)
    losses = []
    for step in range(script.STEPS):
        start = (step * script.BATCH) % len(p["labels"])
        x = torch.from_numpy(p["images"][start:start + script.BATCH])
        y = torch.from_numpy(p["labels"][start:start + script.BATCH]).long()
        hidden = tf.max_pool2d(tf.relu(bn(conv(x))), 2)
        loss = tf.cross_entropy(fc(hidden.flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def test_numpy_backend_matches_megengine_and_pytorch(tmp_path) -> None:
    losses = _mge_losses(tmp_path, "numpy")
    assert losses[-1] < 0.1 * losses[0]  # it learns
    np.testing.assert_allclose(losses, np.load(GOLDEN), rtol=RTOL)
    if "torch" in available_backends():
        np.testing.assert_allclose(losses, _torch_losses(), rtol=RTOL)


@pytest.mark.slow
@pytest.mark.skipif("torch" not in available_backends(), reason="the torch extra is absent")
def test_torch_backend_matches_megengine_and_pytorch(tmp_path) -> None:
    losses = _mge_losses(tmp_path, "torch")
    np.testing.assert_allclose(losses, np.load(GOLDEN), rtol=RTOL)
    np.testing.assert_allclose(losses, _torch_losses(), rtol=RTOL)


@requires_oracle
@pytest.mark.slow
def test_oracle_still_agrees(tmp_path) -> None:
    out = tmp_path / "oracle.npy"
    env = {**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0"}
    env.pop("PYTHONPATH", None)
    subprocess.run([oracle_python(), script.__file__, str(out)], check=True, env=env,
                   timeout=600, capture_output=True)
    # MegEngine's CPU kernels take other SIMD paths on other CPUs: over 200 steps its losses
    # on an Intel Xeon (AVX512-FP16) differ from the golden made on an AMD EPYC by up to
    # 7.2e-5 relative; still 14x inside the bound mge is held to (RTOL)
    np.testing.assert_allclose(np.load(out), np.load(GOLDEN), rtol=RTOL / 5)
