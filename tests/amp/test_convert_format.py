"""``amp.convert_module_format`` / ``convert_tensor_format``: 4-d and 5-d tensors get the
``"nhwc"`` tag with logical shapes and values kept, and a training step keeps the tag."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge import amp
from mge.autodiff import GradManager
from mge.optimizer import SGD


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(4, 4, 3, padding=1, groups=2)
        self.bn = M.BatchNorm2d(4)
        self.fc = M.Linear(4, 2)
        self.scale = mge.Parameter(np.ones((1, 4, 1, 1), np.float32))

    def forward(self, x):
        return F.relu(self.bn(self.conv(x))) * self.scale


@pytest.mark.parametrize("inplace", [True, False])
def test_convert_module_tags_only_4d_and_5d(inplace: bool) -> None:
    net = _Net()
    before = {k: (t.shape, t.numpy().copy()) for k, t in net.named_tensors()}
    out = amp.convert_module_format(net, inplace=inplace)
    assert (out is net) == inplace
    for name, t in out.named_tensors():
        assert t.shape == before[name][0] and np.array_equal(t.numpy(), before[name][1])
        assert t.format == ("nhwc" if t.ndim in (4, 5) else "default"), name
    assert out.conv.weight.ndim == 5
    if not inplace:
        assert all(t.format == "default" for t in net.parameters())


def test_convert_tensor_format() -> None:
    x = mge.tensor(np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4))
    y = amp.convert_tensor_format(x, inplace=False)
    assert y is not x and y.format == "nhwc" and x.format == "default"
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    assert amp.convert_tensor_format(x) is x and x.format == "nhwc"
    flat = mge.tensor([1.0, 2.0])
    assert amp.convert_tensor_format(flat) is flat and flat.format == "default"


def test_training_step_keeps_the_format_and_the_values() -> None:
    mge.random.seed(0)
    nets = [_Net(), _Net()]
    nets[1].load_state_dict(nets[0].state_dict())
    amp.convert_module_format(nets[1])
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype(np.float32)
    results = []
    for k, net in enumerate(nets):
        gm = GradManager().attach(net.parameters())
        opt = SGD(net.parameters(), lr=0.1)
        inp = mge.tensor(x)
        if k:
            amp.convert_tensor_format(inp)
        for _ in range(2):
            with gm:
                y = net(inp)
                gm.backward(F.mean(y * y))
            opt.step().clear_grad()
        results.append((y, net.conv.weight))
    (y0, w0), (y1, w1) = results
    assert y1.format == "nhwc" and w1.format == "nhwc"
    np.testing.assert_allclose(y1.numpy(), y0.numpy(), rtol=1e-6)
    np.testing.assert_allclose(w1.numpy(), w0.numpy(), rtol=1e-6)
