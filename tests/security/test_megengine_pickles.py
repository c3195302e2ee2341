"""Pickles written by real MegEngine 1.13 load under mge's default (restricted) loader.

The golden files come from ``megengine_pickles/make_megengine_pickles.py`` (run with the
oracle); they are committed, so these tests need no MegEngine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.serialization.restricted_unpickler import WeightsOnlyUnpicklingError

GOLDEN = Path(__file__).parent / "megengine_pickles"


class Block(M.Module):
    """The module make_megengine_pickles.py saves, written for mge."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = M.BatchNorm2d(4)
        self.head = M.Sequential(M.Linear(4, 3), M.ReLU())

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = F.relu(self.bn(self.conv(x))) + x.mean(axis=1, keepdims=True)
        return self.head(F.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def test_layer_state_dict_loads_and_reproduces_megengine() -> None:
    state = mge.load(GOLDEN / "layers_state.pkl")
    assert sorted(state) == ["bn.bias", "bn.running_mean", "bn.running_var", "bn.weight",
                             "conv.weight", "head.0.bias", "head.0.weight"]
    net = Block()
    net.load_state_dict(state)
    net.eval()
    io = np.load(GOLDEN / "traced_module_io.npz")
    np.testing.assert_allclose(net(mge.tensor(io["x"])).numpy(), io["y"], atol=1e-5)


def test_saved_tensors_load() -> None:
    loaded = mge.load(GOLDEN / "tensor.pkl", map_location="cpu0")
    assert type(loaded["t"]) is mge.Tensor and type(loaded["p"]) is mge.Parameter
    np.testing.assert_array_equal(loaded["t"].numpy(), np.arange(4, dtype="int32"))
    assert loaded["p"].shape == (2, 3) and loaded["p"].device == "cpu0"


def test_megengine_traced_module_is_refused_cleanly() -> None:
    """MegEngine's own TracedModule classes (LeafDef, _ModuleState, ...) have no mge
    counterpart, so mge cannot rebuild such a pickle with either loader; the default
    refuses it with a message naming the file, before anything runs."""
    path = GOLDEN / "traced_module.pkl"
    with pytest.raises(WeightsOnlyUnpicklingError, match=rf"^{path}: .*'megengine\."):
        mge.load(path)
