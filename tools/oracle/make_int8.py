"""Build int8 ``.mge`` dumps with real MegEngine 1.13's quantization flow.

Run with the oracle interpreter (never imported by ``mge``)::

    MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_int8.py \\
        --out tests/fixtures/int8 [--model cnn|resnet18|shufflenet]

A float net (random weights, BatchNorm statistics set) goes through
``quantize_qat(calibration_qconfig)``, calibration on seeded random batches,
``quantize`` and ``trace.dump(optimize_for_inference=True)``. Every block's output is a
graph output (as float32), so a runner can be compared layer by layer. Writes
``int8_<model>.mge`` and ``int8_<model>.npz`` (``input``; ``lite/<k>``: what
``megenginelite`` computes for output ``k``), and the float net before quantization as
``float_<model>.mge`` (its last output); ``--batch N`` adds ``_bN`` to the names.

The ``cnn`` model (QuantStub, ConvBnRelu2d, grouped ConvBn2d, Conv2d, quantized
fuse_add_relu, max pooling, Linear) and ``shufflenet`` (a narrow ShuffleNetV1 of the zoo's
quantized units, 32x32 input: channel shuffles, quantized concatenation and average
pooling) are small enough to commit; ``resnet18`` (ImageNet width, about 12 MB) is made
on demand by the tests.
"""

from __future__ import annotations

import argparse
import os

import megengine as mge
import megengine.functional as F
import megengine.module as M
import numpy as np
from megengine.jit import trace
from megengine.quantization import (
    calibration_qconfig,
    disable_observer,
    enable_observer,
    quantize,
    quantize_qat,
)
from megenginelite import LiteNetwork


class SmallCNN(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = M.QuantStub()
        self.c1 = M.ConvBnRelu2d(3, 8, 3, padding=1)
        self.c2 = M.ConvBn2d(8, 8, 3, padding=1, groups=8)
        self.c3 = M.Conv2d(8, 8, 1)
        self.add = M.Elemwise("fuse_add_relu")
        self.pool = M.MaxPool2d(2)
        self.fc = M.Linear(8 * 4 * 4, 10)
        self.dq = M.DequantStub()

    def forward(self, x):
        y = self.c1(self.q(x))
        z = self.c3(self.c2(y))
        y = self.pool(self.add(y, z))
        out = self.fc(F.flatten(y, 1))
        return [t.astype("float32") for t in (y, z)] + [self.dq(out)]


class Block(M.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = M.ConvBnRelu2d(cin, cout, 3, stride, 1, bias=False)
        self.c2 = M.ConvBn2d(cout, cout, 3, 1, 1, bias=False)
        self.down = (M.ConvBn2d(cin, cout, 1, stride, bias=False)
                     if stride != 1 or cin != cout else None)
        self.add = M.Elemwise("FUSE_ADD_RELU")

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        return self.add(self.c2(self.c1(x)), idt)


class ResNet18(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = M.QuantStub()
        self.stem = M.ConvBnRelu2d(3, 64, 7, 2, 3, bias=False)
        self.pool = M.MaxPool2d(3, 2, 1)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.blocks = M.Sequential(*blocks)
        self.fc = M.Linear(512, 1000)
        self.dq = M.DequantStub()

    def forward(self, x):
        outs = [self.pool(self.stem(self.q(x)))]
        for block in self.blocks:
            outs.append(block(outs[-1]))
        gap = F.avg_pool2d(outs[-1], 7)
        out = self.dq(self.fc(F.flatten(gap, 1)))
        return [t.astype("float32") for t in (*outs, gap)] + [out]


class ShuffleUnit(M.Module):
    """MegEngine/Models' quantized ``ShuffleV1Block`` (``official/quantization``): a
    grouped 1x1 conv, the channel shuffle (reshape, transpose, reshape of the codes), a
    depthwise conv, a grouped 1x1 conv, ``FUSE_ADD_RELU`` with the input or (stride 2)
    its strided 1x1 projection; ``concat``: ShuffleNetV1's own stride-2 unit instead, the
    3x3 average pool of the input concatenated with the relu'd main branch."""

    def __init__(self, cin: int, cout: int, stride: int, group: int, first: bool,
                 concat: bool = False) -> None:
        super().__init__()
        self.group, self.stride, self.concat = group, stride, concat
        mid, main_out = cout // 4, cout - cin if concat else cout
        self.pw = M.ConvBnRelu2d(cin, mid, 1, groups=1 if first else group, bias=False)
        self.dw = M.ConvBn2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.pw_linear = M.ConvBn2d(mid, main_out, 1, groups=group, bias=False)
        if concat:
            self.pool, self.relu, self.cat = M.AvgPool2d(3, 2, 1), M.Elemwise("RELU"), M.Concat()
        else:
            self.proj = M.ConvBn2d(cin, cout, 1, 2, bias=False) if stride == 2 else None
            self.add = M.Elemwise("FUSE_ADD_RELU")

    def shuffle(self, x):
        n, c, h, w = x.shape
        x = x.reshape(n, c // self.group, self.group, h, w)
        return F.transpose(x, (0, 2, 1, 3, 4)).reshape(n, c, h, w)

    def forward(self, x):
        y = self.pw_linear(self.dw(self.shuffle(self.pw(x))))
        if self.concat:
            return self.cat([self.pool(x), self.relu(y)], 1)
        return self.add(y, x if self.proj is None else self.proj(x))


class ShuffleNetV1(M.Module):
    """A narrow ShuffleNetV1 (group 3) of :class:`ShuffleUnit`s: the first stage opens
    with the concatenating unit, the second with the zoo's projecting one; the classifier
    stays float, as in the zoo."""

    def __init__(self) -> None:
        super().__init__()
        self.q = M.QuantStub()
        self.stem = M.ConvBnRelu2d(3, 12, 3, 2, 1, bias=False)
        self.pool = M.MaxPool2d(3, 2, 1)
        self.units = M.Sequential(
            ShuffleUnit(12, 48, 2, 3, first=True, concat=True), ShuffleUnit(48, 48, 1, 3, False),
            ShuffleUnit(48, 96, 2, 3, False), ShuffleUnit(96, 96, 1, 3, False))
        self.dq = M.DequantStub()
        self.fc = M.Linear(96, 10)
        self.fc.disable_quantize()

    def forward(self, x):
        outs = [self.pool(self.stem(self.q(x)))]
        for unit in self.units:
            outs.append(unit(outs[-1]))
        out = self.fc(self.dq(F.flatten(F.avg_pool2d(outs[-1], 2), 1)))
        return [t.astype("float32") for t in outs] + [out]


MODELS = {"cnn": (SmallCNN, (1, 3, 8, 8)), "resnet18": (ResNet18, (1, 3, 224, 224)),
          "shufflenet": (ShuffleNetV1, (1, 3, 32, 32))}


def dump_float(net: M.Module, path: str, x: np.ndarray) -> None:
    """The float net (BatchNorm in inference mode) as a ``.mge`` file."""

    @trace(symbolic=True, capture_as_const=True)
    def fn(data):
        return net(data)[-1]

    fn(mge.tensor(x))
    fn.dump(path, arg_names=["data"], optimize_for_inference=True)


def build(name: str, out_dir: str, seed: int = 0, batch: int = 1) -> str:
    cls, shape = MODELS[name]
    shape = (batch, *shape[1:])
    mge.random.seed(seed)  # the modules' initial weights
    rng = np.random.RandomState(seed)
    net = cls()
    for m in net.modules():
        if isinstance(m, M.BatchNorm2d):
            m.running_mean[:] = rng.randn(*m.running_mean.shape).astype("float32") * 0.1
            m.running_var[:] = rng.rand(*m.running_var.shape).astype("float32") + 0.5
    net.eval()
    x = rng.randn(*shape).astype("float32")
    suffix = "" if batch == 1 else f"_b{batch}"
    dump_float(net, os.path.join(out_dir, f"float_{name}{suffix}.mge"), x)
    calibration = [rng.randn(2, *shape[1:]).astype("float32") for _ in range(2)]
    return ptq_dump(net, calibration, x, os.path.join(out_dir, f"int8_{name}{suffix}"))


def ptq_dump(net: M.Module, calibration: list, x: np.ndarray, stem: str) -> str:
    """``net`` (float, eval mode) through ``quantize_qat(calibration_qconfig)``, observed on
    each ``calibration`` batch, ``quantize`` and ``trace.dump(optimize_for_inference=True)``
    to ``<stem>.mge``; ``<stem>.npz`` holds ``input`` (``x``) and ``lite/<k>``, what
    megenginelite computes on ``x``. Returns the ``.mge`` path."""
    qnet = quantize_qat(net, calibration_qconfig)
    enable_observer(qnet)
    for batch in calibration:
        qnet(mge.tensor(batch))
    disable_observer(qnet)
    qnet = quantize(qnet)
    qnet.eval()

    @trace(symbolic=True, capture_as_const=True)
    def fn(data):
        return qnet(data)

    fn(mge.tensor(x))
    path = stem + ".mge"
    fn.dump(path, arg_names=["data"], optimize_for_inference=True)
    lite = LiteNetwork()
    lite.load(path)
    lite.get_io_tensor(lite.get_all_input_name()[0]).set_data_by_copy(x)
    lite.forward()
    lite.wait()
    arrays = {"input": x}
    for k, out in enumerate(lite.get_all_output_name()):
        arrays[f"lite/{k}"] = lite.get_io_tensor(out).to_numpy().copy()
    np.savez(stem + ".npz", **arrays)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    print(build(args.model, args.out, args.seed, args.batch))


if __name__ == "__main__":
    main()
