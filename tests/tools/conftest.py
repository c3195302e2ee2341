"""Models and data files shared by the command-line tool tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mge
import mge.module as M
from mge.jit import trace
from mge.jit.testcase import load_testcase_model, pack_testcases


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:  # noqa: ANN001
    """A plain .mge: conv+BN+relu, input ``data`` (1, 3, 8, 8), output ``out``."""
    mge.random.seed(5)
    net = M.Sequential(M.Conv2d(3, 4, 3, padding=1), M.BatchNorm2d(4), M.ReLU())
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def f(data, *, net):
        return net(data)

    f(mge.tensor(np.zeros((1, 3, 8, 8), np.float32)), net=net)
    path = tmp_path_factory.mktemp("models") / "small.mge"
    f.dump(str(path), arg_names=["data"], output_names=["out"])
    return path


@pytest.fixture(scope="session")
def two_input_model(tmp_path_factory) -> Path:  # noqa: ANN001
    """A plain .mge computing ``a * 2 + b`` (``a``: float32 (2, 3), ``b``: int32 (3,))."""

    @trace(symbolic=True, capture_as_const=True)
    def f(a, b):
        return {"sum": a * 2 + b.astype("float32"), "neg": -a}

    f(mge.tensor(np.zeros((2, 3), np.float32)), mge.tensor(np.zeros(3, np.int32)))
    path = tmp_path_factory.mktemp("models") / "two.mge"
    f.dump(str(path), arg_names=["a", "b"])
    return path


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> Path:  # noqa: ANN001
    """A 12x10 color png."""
    path = tmp_path_factory.mktemp("data") / "im.png"
    pixels = (np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def corrupt(src: Path, dst: Path, output: str, delta: float = 1.0) -> None:
    """Copy test-case file ``src`` to ``dst`` adding ``delta`` to every expected value of
    ``output`` (element 0 only)."""
    model = load_testcase_model(src)
    cases = []
    for case in model.cases:
        case = dict(case)
        bad = case[f"{output}:expect"].copy()
        bad.reshape(-1)[0] += delta
        case[f"{output}:expect"] = bad
        cases.append([case[name] for name in sorted(case)])
    dst.write_bytes(pack_testcases(model.model, cases))

