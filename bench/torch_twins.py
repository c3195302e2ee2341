"""Plain PyTorch twins of mge's reference models, loaded with the same weights.

These are the peers in the benchmarks: same architecture, same numbers, so timing
differences are the frameworks' own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans, cin, layers = [64, 128, 256, 512], 64, []
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
            cin = c
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ConvBn(nn.Module):
    """``conv`` + ``bn`` (the key layout of mge's ``ConvBnReLU6``/``ConvBn2d``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                 relu6: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return torch.nn.functional.relu6(y) if self.relu6 else y


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [ConvBn(cin, hidden, 1)] if expand != 1 else []
        layers += [ConvBn(hidden, hidden, 3, stride, groups=hidden),
                   ConvBn(hidden, cout, 1, relu6=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """Twin of ``mge.models.mobilenet_v2()`` (width 1.0, 224x224)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                   [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        cin, features = 32, [ConvBn(3, 32, 3, 2)]
        for t, c, n, s in setting:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(ConvBn(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.avg_pool2d(self.features(x), 7)
        return self.classifier(torch.flatten(x, 1))


class ShuffleV2Block(nn.Module):
    def __init__(self, cin: int, cout: int, mid: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.branch_main = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, cout - cin, 1, bias=False), nn.BatchNorm2d(cout - cin), nn.ReLU())
        self.branch_proj = None if stride == 1 else nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cin, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch_proj is not None:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        n, c, h, w = x.shape
        x = x.reshape(n * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
        return torch.cat((x[0], self.branch_main(x[1])), 1)


class ShuffleNetV2(nn.Module):
    """Twin of ``mge.models.shufflenet_v2_x1_0()`` (224x224)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        chans = [24, 116, 232, 464, 1024]
        self.first_conv = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False),
                                        nn.BatchNorm2d(24), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 24
        for stage, repeats in enumerate([4, 8, 4]):
            cout = chans[stage + 1]
            for i in range(repeats):
                blocks.append(ShuffleV2Block(cin if i == 0 else cin // 2, cout, cout // 2,
                                             2 if i == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*blocks)
        self.conv_last = nn.Sequential(nn.Conv2d(cin, 1024, 1, bias=False),
                                       nn.BatchNorm2d(1024), nn.ReLU())
        self.globalpool = nn.AvgPool2d(7)
        self.classifier = nn.Sequential(nn.Linear(1024, num_classes, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_last(self.features(self.maxpool(self.first_conv(x))))
        return self.classifier(torch.flatten(self.globalpool(x), 1))


class OnnxTwin(nn.Module):
    """A PyTorch module running an ONNX graph's nodes eagerly (the ops of the shared
    MobileNet files: Conv, Clip, Relu, Add, Mul, GlobalAveragePool, Reshape, Flatten,
    Softmax, HardSwish), its initializers as parameters."""

    def __init__(self, path: str) -> None:
        import onnx
        from onnx import numpy_helper

        super().__init__()
        model = onnx.load(path)
        self.consts: dict[str, torch.Tensor] = {}
        for k, init in enumerate(model.graph.initializer):
            value = torch.from_numpy(numpy_helper.to_array(init).copy())
            if value.is_floating_point():
                self.register_buffer(f"c{k}", value)
            self.consts[init.name] = value
        self.nodes = [(n.op_type, list(n.input), list(n.output),
                       {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
                      for n in model.graph.node]
        self.inputs = [i.name for i in model.graph.input if i.name not in self.consts]
        self.outputs = [o.name for o in model.graph.output]

    def forward(self, *xs: torch.Tensor) -> list[torch.Tensor]:
        env = dict(self.consts)
        env.update(zip(self.inputs, xs, strict=True))
        F = torch.nn.functional
        for op, ins, outs, attrs in self.nodes:
            a = [env[i] if i else None for i in ins]
            if op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                x = a[0]
                if pads[:2] != pads[2:]:
                    x, pads = F.pad(x, (pads[1], pads[3], pads[0], pads[2])), [0, 0]
                y = F.conv2d(x, a[1], a[2] if len(a) > 2 else None, attrs.get("strides", 1),
                             pads[:2], attrs.get("dilations", 1), attrs.get("group", 1))
            elif op == "Clip":
                y = torch.clamp(a[0], float(a[1]), float(a[2]))
            elif op in ("Add", "Mul"):
                y = a[0] + a[1] if op == "Add" else a[0] * a[1]
            elif op == "Relu":
                y = torch.relu(a[0])
            elif op == "HardSwish":
                y = F.hardswish(a[0])
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(a[0], 1)
            elif op == "Reshape":
                y = a[0].reshape([int(d) for d in a[1]])
            elif op == "Flatten":
                y = torch.flatten(a[0], attrs.get("axis", 1))
            elif op == "Softmax":
                y = torch.softmax(a[0], attrs.get("axis", -1))
            else:
                raise NotImplementedError(f"OnnxTwin: no {op}")
            env[outs[0]] = y
        return [env[o] for o in self.outputs]


def load_from_mge(twin: nn.Module, state: dict[str, Any]) -> nn.Module:
    """Copy an mge ``state_dict`` into ``twin`` (names match; shapes reshaped to torch's)."""
    own = twin.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"mge state_dict lacks {missing[:5]}...")
    new = {}
    for key, value in own.items():
        if key.endswith("num_batches_tracked"):
            new[key] = value
            continue
        arr = np.asarray(state[key], dtype=np.float32)
        new[key] = torch.from_numpy(arr.reshape(value.shape).copy())
    twin.load_state_dict(new)
    return twin.eval()
