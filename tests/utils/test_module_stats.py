"""module_stats: MegEngine 1.13's per-layer params, FLOPs and activations."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.utils import module_stats as ms


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, padding=1, groups=1)
        self.bn = M.BatchNorm2d(4)
        self.pool = M.MaxPool2d(2)
        self.shared = self.conv  # the same layer twice: its params count once
        self.fc = M.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(F.relu(self.bn(self.conv(x))))
        return self.fc(F.flatten(x, 1))


def test_totals_follow_megengine_formulas() -> None:
    net = Net()
    net.train()
    total, details = ms.module_stats(net, input_shapes=(2, 3, 8, 8), logging_to_stdout=False)
    conv = 2 * 4 * 8 * 8 * (3 * 9 + 1)
    bn = 2 * 4 * 8 * 8 * 7
    pool = 2 * 4 * 4 * 4 * 4
    fc = 2 * 5 * 64 + 5
    assert total.flops == conv + bn + pool + fc
    assert [r["name"] for r in details.flops] == ["conv", "bn", "pool", "fc", "total"]
    assert total.act_dims == 2 * (4 * 8 * 8 + 4 * 8 * 8 + 4 * 4 * 4 + 5)
    names = [r["name"] for r in details.params]
    assert names == ["conv-w", "conv-b", "bn-w", "bn-b", "fc-w", "fc-b", "total"]
    assert total.param_dims == 4 * 27 + 4 + 4 + 4 + 64 * 5 + 5
    assert total.param_size == total.param_dims * 4
    assert net.training and net.bn.training  # eval only while measuring


def test_params_read_by_another_module_and_input_kinds() -> None:
    class Direct(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = M.Conv2d(3, 2, 1)

        def forward(self, inputs):
            x = inputs["x"]
            return self.conv1.calc_conv(x, self.conv1.weight, self.conv1.bias)

    data = {"x": np.ones((1, 3, 2, 2), np.float32)}
    total, details = ms.module_stats(Direct(), inputs=[data], logging_to_stdout=False)
    assert [r["name"] for r in details.params][:2] == ["conv1-w", "conv1-b"]
    assert total.flops == 0 and total.act_dims == 0  # conv1 itself never ran


def test_tables_are_logged_and_bad_calls_are_refused(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="mge.utils.module_stats"):
        ms.module_stats(Net(), inputs=mge.tensor(np.ones((1, 3, 8, 8), np.float32)))
    text = caplog.text
    assert "flops stats" in text and "param stats" in text and "conv-w" in text
    assert "mean" in text  # activations have mean/std when real inputs are given
    with pytest.raises(ValueError, match="inputs or input_shapes is required"):
        ms.module_stats(Net())
    with pytest.raises(TypeError, match="should in"):
        ms.register_hook_module(3)


def test_registered_formulas_and_layers() -> None:
    class Scale(M.Module):
        def forward(self, x):
            return x * 2

    class Wrapper(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = Scale()

        def forward(self, x):
            return self.scale(x)

    before = list(ms.hook_modules)
    try:
        ms.register_hook_module([Scale])
        ms.register_flops(Scale)(lambda module, inputs, outputs: np.prod(outputs[0].shape))
        total, details = ms.module_stats(Wrapper(), input_shapes=[(2, 3)],
                                         logging_to_stdout=False)
        assert total.flops == 6 and details.flops[0]["class_name"] == "Scale"
    finally:
        ms.hook_modules[:] = before
        ms._calc_flops_dict.pop(Scale, None)
    assert ms.sizeof_fmt(1536) == "1.500 KiB" and ms.sizeof_fmt(1500, "OPs") == "1.500 KOPs"
