"""``reconstruct_blocks`` (BRECQ/QDrop block-wise rounding) and its torch block runner."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.module as M
from mge.dtype import get_scale
from mge.quantization import (
    calibration_qconfig,
    disable_observer,
    enable_observer,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.block_graph import Step, TorchBlock, split_blocks, weight_of
from mge.quantization.block_reconstruction import reconstruct_blocks

torch = pytest.importorskip("torch")


class InvertedResidual(M.Module):
    """A stem conv + ReLU6, then MobileNetV2's residual block: 1x1 expand + ReLU6, 3x3
    depthwise + ReLU6, 1x1 project, add."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(3)
        self.quant, self.dequant = M.QuantStub(), M.DequantStub()
        self.stem, self.stem_act = M.Conv2d(3, 8, 3, padding=1), M.Elemwise("relu6")
        self.expand, self.expand_act = M.Conv2d(8, 24, 1), M.Elemwise("relu6")
        self.pad = M.Pad(((0, 0), (0, 0), (1, 1), (1, 1)))
        self.dw, self.dw_act = M.Conv2d(24, 24, 3, groups=24), M.Elemwise("relu6")
        self.project, self.add = M.Conv2d(24, 8, 1), M.Elemwise("add")
        for conv in (self.stem, self.expand, self.dw, self.project):
            w = conv.weight
            w[...] = mge.tensor(rng.normal(0, 0.6, w.shape).astype("float32"))
        self.steps = [Step("stem", ("x",), "s"), Step("stem_act", ("s",), "a"),
                      Step("expand", ("a",), "e"), Step("expand_act", ("e",), "e6"),
                      Step("pad", ("e6",), "p"), Step("dw", ("p",), "d"),
                      Step("dw_act", ("d",), "d6"), Step("project", ("d6",), "o"),
                      Step("add", ("a", "o"), "y")]

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        values = {"x": self.quant(x)}
        for s in self.steps:
            values[s.output] = getattr(self, s.module)(*(values[i] for i in s.inputs))
        return self.dequant(values["y"])


def _calibrated(x: np.ndarray) -> tuple[M.Module, M.Module]:
    net = InvertedResidual()
    net.eval()
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    enable_observer(qat)
    qat(mge.tensor(x))
    disable_observer(qat)
    share_activation_scales(qat, mge.tensor(x[:1]))
    return net, qat


X = np.random.default_rng(0).normal(size=(8, 3, 12, 12)).astype("float32")


def test_split_blocks_cuts_after_each_inverted_residual_block() -> None:
    net = InvertedResidual()
    steps = net.steps + [Step("expand", ("y",), "z")]
    blocks = split_blocks(steps, dict(net.named_modules()))
    # the stem's ReLU6 output stays live for the add: no cut before it
    assert [[s.module for s in b] for b in blocks] == [[s.module for s in net.steps],
                                                       ["expand"]]


def test_torch_block_with_nearest_weights_is_the_int8_network() -> None:
    net, qat = _calibrated(X)
    modules = dict(qat.named_modules())
    scales = {"x": float(get_scale(qat.quant.get_activation_dtype()))}
    block = TorchBlock(torch, net.steps, modules, scales)
    x = torch.as_tensor(X)
    xq = torch.clamp(torch.round(x / scales["x"]), -128, 127) * scales["x"]
    weights = {sw.name: weight_of(torch, sw, None) for sw in block.soft_weights()}
    got = block.run({"x": xq}, weights).numpy()
    q = quantize(qat, inplace=False)
    q.eval()
    ref = q(mge.tensor(X)).numpy()
    step = scales["y"] = float(get_scale(qat.add.get_activation_dtype()))
    # the same codes up to rounding ties of the requantizations
    assert np.mean(np.abs(got - ref) > step / 2) < 0.02
    assert np.abs(got - ref).max() <= 2 * step + 1e-6
    floats = block.run({"x": x}).numpy()
    np.testing.assert_allclose(floats, net(mge.tensor(X)).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("drop", [0.0, 0.5])
def test_reconstruct_blocks_beats_nearest_rounding(drop: float) -> None:
    net, qat = _calibrated(X)
    nearest = quantize(qat, inplace=False)
    nearest.eval()
    report = reconstruct_blocks(qat, X, net.steps, {"x": "quant"}, iters=300, patch=8,
                                drop=drop, progress=False)
    assert len(report) == 1
    r = report[0]
    assert r.layers == ["stem", "expand", "dw", "project"]
    assert r.error < r.nearest_error and r.flipped > 0
    for name in r.layers:  # every weight is its code times the per-tensor weight scale
        m = getattr(qat, name)
        codes = m.weight.numpy() / get_scale(m.get_weight_dtype())
        np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    learned = quantize(qat, inplace=False)
    learned.eval()
    ref = net(mge.tensor(X)).numpy()
    err = [np.mean((m(mge.tensor(X)).numpy() - ref) ** 2) for m in (nearest, learned)]
    assert err[1] < err[0]


def test_reconstruct_blocks_names_an_unsupported_module() -> None:
    net, qat = _calibrated(X)
    steps = [Step("dequant", ("x",), "z")]
    with pytest.raises(ValueError, match="'dequant'.*not a Conv2d, Pad or Elemwise"):
        reconstruct_blocks(qat, X, steps, {"x": "quant"}, iters=1, progress=False)
    with pytest.raises(ValueError, match="no module 'nope'"):
        reconstruct_blocks(qat, X, [Step("nope", ("x",), "z")], {"x": "quant"}, iters=1,
                           progress=False)
