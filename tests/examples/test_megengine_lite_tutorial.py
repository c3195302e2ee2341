"""MegEngine's Lite tutorial script (``examples/deploy/lite/inference.py`` of
MegEngine/Documentation, read from a local mirror, never copied here) runs unmodified
under the ``megengine`` alias on a model mge dumps, printing mge's eager top-5; real
MegEngine Lite runs the same script on the same file with the same result (oracle).

The mirror is ``$MGE_DOCS_REPO`` (a git directory; default
``/work/.mirror/MegEngine+Documentation/repo``); the test skips without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mge
import mge.data.transform as T
import mge.functional as F
import mge.module as M
from mge.jit import trace
from tests.oracle import oracle_python, requires_oracle

from .shared_data import IMAGES

DOCS = Path(os.environ.get("MGE_DOCS_REPO", "/work/.mirror/MegEngine+Documentation/repo"))
FILES = {"lite/inference.py": "examples/deploy/lite/inference.py",
         "assets/imagenet_class_info.json": "examples/deploy/assets/imagenet_class_info.json"}
LINE = re.compile(r"(\d): class = (\S+)\s+with probability = +([\d.]+) %")

pytestmark = [
    pytest.mark.skipif(not DOCS.is_dir(), reason=f"no MegEngine/Documentation mirror at {DOCS}"),
    pytest.mark.skipif(not (IMAGES / "cat.bmp").is_file(), reason="../shared/images absent"),
]


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = M.BatchNorm2d(8)
        self.fc = M.Linear(8, 1000)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        return self.fc(F.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The tutorial's folders with the script, its labels and ``model.mge``; and mge's
    eager class probabilities for cat.bmp under the script's preprocessing."""
    root = tmp_path_factory.mktemp("tutorial")
    for dest, src in FILES.items():
        (root / dest).parent.mkdir(exist_ok=True)
        text = subprocess.run(["git", "-C", str(DOCS), "show", f"HEAD:{src}"], check=True,
                              capture_output=True).stdout
        (root / dest).write_bytes(text)
    mge.random.seed(3)
    net = _Net()
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def infer_func(data: mge.Tensor, *, model: M.Module) -> mge.Tensor:
        return F.softmax(model(data))

    infer_func(mge.Tensor(np.random.random([1, 3, 224, 224]).astype(np.float32)), model=net)
    infer_func.dump(str(root / "lite" / "model.mge"), arg_names=["data"])
    image = cv2.imread(str(IMAGES / "cat.bmp"), cv2.IMREAD_COLOR)
    prep = T.Compose([T.Resize(256), T.CenterCrop(224),
                      T.Normalize(mean=[103.530, 116.280, 123.675], std=[57.375, 57.120, 58.395]),
                      T.ToMode("CHW")])
    probs = F.softmax(net(mge.Tensor(prep.apply(image)[np.newaxis]))).numpy()[0]
    return root, probs


REPO = Path(__file__).resolve().parents[2]
#: ``python -m mge.compat run``: this checkout's mge with the ``megengine`` alias
ALIAS = [sys.executable, "-m", "mge.compat", "run"]


def _run(python: list[str], root: Path) -> list[tuple[int, float]]:
    env = {**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0"}
    if python == ALIAS:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run([*python, "inference.py", "-m", "model.mge", "-i",
                           str(IMAGES / "cat.bmp")], cwd=root / "lite", capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [LINE.match(line) for line in done.stdout.splitlines()]
    labels = json.loads((root / "assets" / "imagenet_class_info.json").read_text())
    names = {v[1]: int(k) for k, v in labels.items()}
    top = [(names[m[2]], float(m[3]) / 100) for m in rows if m]
    assert len(top) == 5, done.stdout
    return top


def test_tutorial_script_runs_unmodified_on_mge(tutorial: tuple[Path, np.ndarray]) -> None:
    root, probs = tutorial
    top = _run(ALIAS, root)
    assert [c for c, _ in top] == list(np.argsort(-probs, kind="stable")[:5])
    np.testing.assert_allclose([p for _, p in top], np.sort(probs)[::-1][:5], rtol=1e-4)


@requires_oracle
def test_real_megengine_lite_runs_the_script_alike(tutorial: tuple[Path, np.ndarray]) -> None:
    root, _ = tutorial
    ours = _run(ALIAS, root)
    theirs = _run([oracle_python()], root)
    assert [c for c, _ in ours] == [c for c, _ in theirs]
    np.testing.assert_allclose([p for _, p in ours], [p for _, p in theirs], rtol=1e-4)
