"""TracedModule on the reference models: equality with eager, optimize, pickling."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.random
import mge.traced_module as tm
from mge.models import mobilenet_v2, resnet, resnet18, shufflenet_v2_x1_0

MODELS = {"resnet18": resnet18, "shufflenet_v2": shufflenet_v2_x1_0, "mobilenet_v2": mobilenet_v2}


def _randomize_bn(net: M.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics so that folding mistakes show up."""
    rng = np.random.default_rng(seed)
    for m in net.modules():
        if isinstance(m, M.BatchNorm2d):
            shape = m.running_mean.shape
            m.running_mean = mge.Tensor(rng.normal(0, 0.1, shape).astype(np.float32))
            m.running_var = mge.Tensor(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            m.weight = mge.Parameter(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            m.bias = mge.Parameter(rng.normal(0, 0.1, shape).astype(np.float32))


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> tuple[str, M.Module, mge.Tensor, tm.TracedModule]:
    mge.random.seed(0)
    net = MODELS[request.param](input_size=64)
    _randomize_bn(net)
    net.eval()
    x = mge.tensor(np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32))
    return request.param, net, x, tm.trace_module(net, x)


def test_trace_equals_eager(model) -> None:  # noqa: ANN001
    _, net, x, traced = model
    traced.graph.lint()
    np.testing.assert_allclose(traced(x).numpy(), net(x).numpy(), atol=1e-5)


def test_optimize_removes_batchnorm(model) -> None:  # noqa: ANN001
    _, net, x, traced = model
    opt = tm.optimize(traced, enabled_pass=["FuseConvBn", "FuseAddMul", "BackwardFoldScale"])
    opt.graph.lint()
    flat = opt.flatten()
    assert flat.graph.get_module_by_type(M.BatchNorm2d).as_count() == 0
    assert flat.graph.get_function_by_type(F.batch_norm).as_count() == 0
    np.testing.assert_allclose(opt(x).numpy(), net(x).numpy(), atol=1e-4)


def test_pickle_in_process(model) -> None:  # noqa: ANN001
    _, net, x, traced = model
    loaded = pickle.loads(pickle.dumps(traced))
    np.testing.assert_allclose(loaded(x).numpy(), net(x).numpy(), atol=1e-5)


@pytest.mark.slow
def test_resnet_pickle_without_source(tmp_path) -> None:  # noqa: ANN001
    """The model source lives only in a temporary user module, deleted before loading."""
    (tmp_path / "user_resnet.py").write_text(inspect.getsource(resnet))
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    make = (
        "import numpy as np, mge, mge.random, mge.traced_module as tm\n"
        "import user_resnet\n"
        "mge.random.seed(0)\n"
        "net = user_resnet.resnet18(input_size=64); net.eval()\n"
        f"x = mge.tensor(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "t = tm.optimize(tm.trace_module(net, x), ['FuseConvBn'])\n"
        f"mge.save(t, {str(tmp_path / 'r18.tm')!r})\n"
        f"np.save({str(tmp_path / 'ref.npy')!r}, net(x).numpy())\n"
    )
    subprocess.run([sys.executable, "-c", make], check=True, cwd=tmp_path)
    (tmp_path / "user_resnet.py").unlink()
    use = (
        "import sys, numpy as np, mge\n"
        f"t = mge.load({str(tmp_path / 'r18.tm')!r})\n"
        f"out = t(mge.tensor(np.load({str(tmp_path / 'x.npy')!r}))).numpy()\n"
        f"err = np.abs(out - np.load({str(tmp_path / 'ref.npy')!r})).max()\n"
        "assert err < 1e-4, err\n"
        "assert not any('user_resnet' in m for m in sys.modules)\n"
        "print(t.origin_class)\n"
    )
    out = subprocess.run([sys.executable, "-c", use], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    assert out.stdout.strip() == "ResNet"
