"""mge.compat: unmodified MegEngine scripts run on mge through the opt-in import alias."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.compat import AliasModule, install_megengine_alias, uninstall_megengine_alias
from tests.oracle import oracle_python, requires_oracle

# A MegEngine user script, as written for MegEngine 1.13: nothing in it knows about mge.
USER_SCRIPT = textwrap.dedent('''
    import sys

    import numpy as np

    import megengine
    import megengine.functional as F
    import megengine.hub as hub
    import megengine.module as M
    import megengine.traced_module as tm
    from megengine import jit
    from megengine.core.tensor import megbrain_graph as G
    from megenginelite import LiteNetwork


    class Net(M.Module):
        def __init__(self):
            super().__init__()
            self.conv = M.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = M.BatchNorm2d(8)
            self.fc = M.Linear(8, 4)

        def forward(self, x):
            x = F.relu(self.bn(self.conv(x)))
            x = F.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return F.softmax(self.fc(x), axis=1)


    @hub.pretrained("https://example.com/never-downloaded.pkl")
    def make_net():
        return Net()


    weights_path, out_path, model_path = sys.argv[1:4]
    net = make_net()
    net.load_state_dict(dict(np.load(weights_path)))
    net.eval()
    data = np.random.RandomState(0).rand(2, 3, 8, 8).astype("float32")
    x = megengine.tensor(data)
    assert isinstance(x, megengine.Tensor) and isinstance(net.fc.weight, megengine.Parameter)
    eager = net(x).numpy()


    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(inp):
        return net(inp)


    traced = infer(x).numpy()
    infer.dump(model_path, arg_names=["data"])
    assert len(G.load_graph(model_path).output_vars_list) == 1

    traced_net = tm.trace_module(net, x)
    assert isinstance(traced_net, tm.TracedModule)
    from_tm = traced_net(x).numpy()

    network = LiteNetwork()
    network.load(model_path)
    network.get_io_tensor("data").set_data_by_copy(data)
    network.forward()
    network.wait()
    lite = network.get_io_tensor(network.get_output_name(0)).to_numpy()
    np.savez(out_path, eager=eager, traced=traced, tm=from_tm, lite=lite)
    print("megengine", megengine.__version__, "ran", __name__)
''')


def _weights(path: Path) -> None:
    rng = np.random.RandomState(1)
    np.savez(
        path,
        **{
            "conv.weight": rng.randn(8, 3, 3, 3).astype("float32"),
            "bn.weight": rng.rand(1, 8, 1, 1).astype("float32") + 0.5,
            "bn.bias": rng.randn(1, 8, 1, 1).astype("float32"),
            "bn.running_mean": rng.randn(1, 8, 1, 1).astype("float32"),
            "bn.running_var": rng.rand(1, 8, 1, 1).astype("float32") + 0.5,
            "fc.weight": rng.randn(4, 8).astype("float32"),
            "fc.bias": rng.randn(4).astype("float32"),
        },
    )


def _run_script(python: list[str], tmp_path: Path, tag: str) -> dict[str, np.ndarray]:
    script, weights = tmp_path / "user_script.py", tmp_path / "weights.npz"
    script.write_text(USER_SCRIPT)
    _weights(weights)
    out, model = tmp_path / f"{tag}.npz", tmp_path / f"{tag}.mge"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*python, str(script), str(weights), str(out), str(model)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "megengine 1.13.0 ran __main__"
    return dict(np.load(out))


def test_unmodified_megengine_script_runs_on_mge(tmp_path: Path) -> None:
    outputs = _run_script([sys.executable, "-m", "mge.compat", "run"], tmp_path, "mge")
    assert outputs["eager"].shape == (2, 4)
    np.testing.assert_allclose(outputs["eager"].sum(axis=1), [1, 1], rtol=1e-5)
    for name in ("traced", "tm", "lite"):
        np.testing.assert_allclose(outputs[name], outputs["eager"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


@requires_oracle
def test_same_script_same_results_as_megengine(tmp_path: Path) -> None:
    ours = _run_script([sys.executable, "-m", "mge.compat", "run"], tmp_path, "mge")
    theirs = _run_script([oracle_python()], tmp_path, "megengine")
    for name in ("eager", "traced", "tm", "lite"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_run_module_and_usage(tmp_path: Path) -> None:
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tool.py").write_text(
        "import sys\nimport megengine.functional as F\nprint(F.relu.__module__, sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "mge.compat", "run", "-m", "userpkg.tool", "a"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mge.functional.elemwise", "['a']"]
    usage = subprocess.run([sys.executable, "-m", "mge.compat", "script.py"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "usage: python -m mge.compat run" in usage.stderr


@pytest.fixture
def alias() -> Iterator[None]:
    install_megengine_alias()
    try:
        yield
    finally:
        uninstall_megengine_alias()


@pytest.mark.usefixtures("alias")
def test_alias_views_mge_modules() -> None:
    import megengine
    import megengine.functional.nn as nn
    import megengine.tensor
    from megengine.core.tensor import megbrain_graph
    from megengine.jit import trace

    assert megengine.tensor is mge.tensor  # the submodule import does not shadow it
    assert megengine.Tensor is mge.Tensor and megengine.Parameter is mge.Parameter
    assert isinstance(sys.modules["megengine.tensor"], AliasModule)
    assert nn.conv2d is mge.functional.nn.conv2d and trace is mge.jit.trace
    assert megbrain_graph.load_graph is mge.core.tensor.megbrain_graph.load_graph
    assert megengine.__version__ == "1.13.0" and mge.__version__ != "1.13.0"
    assert mge.tensor is not sys.modules["mge.tensor"]  # mge itself is untouched
    namespace: dict[str, object] = {}
    exec("from megengine.functional import *", namespace)
    assert namespace["relu"] is mge.functional.relu
    with pytest.raises(AttributeError, match="'megengine' has no attribute 'no_such_api'.*mge"):
        _ = megengine.no_such_api
    with pytest.raises(ModuleNotFoundError, match="maps it to 'mge.xla'"):
        import megengine.xla  # noqa: F401
    import megenginelite

    assert megenginelite.LiteNetwork is mge.lite.LiteNetwork


@pytest.mark.usefixtures("alias")
def test_alias_writes_reach_mge(monkeypatch: pytest.MonkeyPatch) -> None:
    import megengine.functional as F

    def fake_relu(x: object) -> str:
        return "patched"

    original = mge.functional.relu
    with monkeypatch.context() as patch:
        patch.setattr(F, "relu", fake_relu)
        assert mge.functional.relu is fake_relu
        patch.setattr(F, "not_in_mge", 1, raising=False)
        assert mge.functional.not_in_mge == 1
    assert mge.functional.relu is original  # undone on mge, whatever pytest version
    assert not hasattr(mge.functional, "not_in_mge")


def test_alias_is_opt_in_and_refuses_real_megengine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "megengine" not in sys.modules  # importing mge never installs it
    fake = types.ModuleType("megengine")
    fake.__file__ = "/site-packages/megengine/__init__.py"
    monkeypatch.setitem(sys.modules, "megengine", fake)
    with pytest.raises(RuntimeError, match=r"real MegEngine is already imported.*site-packages"):
        install_megengine_alias()
    monkeypatch.delitem(sys.modules, "megengine")
    install_megengine_alias()
    install_megengine_alias()  # idempotent
    try:
        assert sum(type(f).__name__ == "MegEngineAliasFinder" for f in sys.meta_path) == 1
    finally:
        uninstall_megengine_alias()
    assert not any(type(f).__name__ == "MegEngineAliasFinder" for f in sys.meta_path)


@pytest.mark.usefixtures("alias")
def test_megengine_hubconf_loads_through_the_alias(tmp_path: Path) -> None:
    (tmp_path / "hubconf.py").write_text(textwrap.dedent('''
        import megengine.module as M
        from megengine import hub


        @hub.pretrained("https://example.com/fc.pkl")
        def fc(**kwargs):
            """A MegEngine-style entry."""
            return M.Linear(2, 3, **kwargs)
    '''))
    net = mge.hub.load(str(tmp_path), "fc")
    assert isinstance(net, mge.module.Linear) and net.weight.shape == (3, 2)
    assert mge.hub.help(str(tmp_path), "fc") == "A MegEngine-style entry."
