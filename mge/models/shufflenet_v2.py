"""ShuffleNet V2 in MegEngine's official layout (MegEngine/Models, ``classification/shufflenet``).

Keys match the official model: ``first_conv``, ``maxpool``, ``features`` (a Sequential
of ``ShuffleV2Block`` with ``branch_main`` / ``branch_proj`` Sequentials), ``conv_last``,
``globalpool`` and ``classifier``. Stride-1 blocks split the channels with a channel
shuffle (reshape, transpose, reshape, index) and join the branches with ``F.concat``.
Only ``mge.functional`` and ``mge.module`` are used (the file also runs under MegEngine).

Example:
    >>> import numpy as np, mge
    >>> from mge.models.shufflenet_v2 import shufflenet_v2_x1_0
    >>> net = shufflenet_v2_x1_0(num_classes=10, input_size=64)
    >>> net.eval()
    >>> net(mge.tensor(np.zeros((1, 3, 64, 64), "float32"))).shape
    (1, 10)
"""

from __future__ import annotations

from typing import Any

import mge.functional as F
import mge.module as M

STAGE_OUT_CHANNELS = {
    "0.5x": [-1, 24, 48, 96, 192, 1024],
    "1.0x": [-1, 24, 116, 232, 464, 1024],
    "1.5x": [-1, 24, 176, 352, 704, 1024],
    "2.0x": [-1, 24, 244, 488, 976, 2048],
}


class ShuffleV2Block(M.Module):
    """A ShuffleNet V2 unit: stride 1 (split + shuffle) or stride 2 (two branches)."""

    def __init__(self, inp: int, oup: int, mid_channels: int, *, ksize: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleV2Block: stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.mid_channels = mid_channels
        self.ksize = ksize
        self.pad = ksize // 2
        self.inp = inp
        self.branch_main = M.Sequential(
            M.Conv2d(inp, mid_channels, 1, 1, 0, bias=False),  # pw
            M.BatchNorm2d(mid_channels),
            M.ReLU(),
            M.Conv2d(mid_channels, mid_channels, ksize, stride, self.pad,  # dw
                     groups=mid_channels, bias=False),
            M.BatchNorm2d(mid_channels),
            M.Conv2d(mid_channels, oup - inp, 1, 1, 0, bias=False),  # pw-linear
            M.BatchNorm2d(oup - inp),
            M.ReLU(),
        )
        if stride == 2:
            self.branch_proj = M.Sequential(
                M.Conv2d(inp, inp, ksize, stride, self.pad, groups=inp, bias=False),  # dw
                M.BatchNorm2d(inp),
                M.Conv2d(inp, inp, 1, 1, 0, bias=False),  # pw-linear
                M.BatchNorm2d(inp),
                M.ReLU(),
            )
        else:
            self.branch_proj = None

    def forward(self, old_x: Any) -> Any:
        if self.stride == 1:
            x_proj, x = self.channel_shuffle(old_x)
            return F.concat((x_proj, self.branch_main(x)), 1)
        return F.concat((self.branch_proj(old_x), self.branch_main(old_x)), 1)

    def channel_shuffle(self, x: Any) -> tuple[Any, Any]:
        """Interleave the channels in two groups and return both halves."""
        batchsize, num_channels, height, width = x.shape
        x = x.reshape(batchsize * num_channels // 2, 2, height * width)
        x = F.transpose(x, (1, 0, 2))
        x = x.reshape(2, -1, num_channels // 2, height, width)
        return x[0], x[1]


class ShuffleNetV2(M.Module):
    """ShuffleNet V2 classifier.

    Args:
        num_classes: outputs of the classifier.
        model_size: ``"0.5x"``, ``"1.0x"``, ``"1.5x"`` or ``"2.0x"`` (channel widths).
        input_size: input height/width (a multiple of 32); the global average pool
            spans ``input_size // 32`` pixels (7 for the official 224x224 model).
    """

    def __init__(
        self, num_classes: int = 1000, model_size: str = "1.5x", input_size: int = 224
    ) -> None:
        super().__init__()
        if model_size not in STAGE_OUT_CHANNELS:
            raise ValueError(
                f"ShuffleNetV2: model_size must be one of {sorted(STAGE_OUT_CHANNELS)}, "
                f"got {model_size!r}"
            )
        if input_size % 32:
            raise ValueError(f"ShuffleNetV2: input_size must be a multiple of 32, got {input_size}")
        self.stage_repeats = [4, 8, 4]
        self.model_size = model_size
        self.stage_out_channels = STAGE_OUT_CHANNELS[model_size]
        input_channel = self.stage_out_channels[1]
        self.first_conv = M.Sequential(
            M.Conv2d(3, input_channel, 3, 2, 1, bias=False),
            M.BatchNorm2d(input_channel),
            M.ReLU(),
        )
        self.maxpool = M.MaxPool2d(kernel_size=3, stride=2, padding=1)
        features = []
        for stage, repeats in enumerate(self.stage_repeats):
            output_channel = self.stage_out_channels[stage + 2]
            for i in range(repeats):
                features.append(ShuffleV2Block(
                    input_channel if i == 0 else input_channel // 2, output_channel,
                    mid_channels=output_channel // 2, ksize=3, stride=2 if i == 0 else 1,
                ))
                input_channel = output_channel
        self.features = M.Sequential(*features)
        self.conv_last = M.Sequential(
            M.Conv2d(input_channel, self.stage_out_channels[-1], 1, 1, 0, bias=False),
            M.BatchNorm2d(self.stage_out_channels[-1]),
            M.ReLU(),
        )
        self.globalpool = M.AvgPool2d(input_size // 32)
        if self.model_size == "2.0x":
            self.dropout = M.Dropout(0.2)
        self.classifier = M.Sequential(
            M.Linear(self.stage_out_channels[-1], num_classes, bias=False)
        )
        self._initialize_weights()

    def forward(self, x: Any) -> Any:
        x = self.maxpool(self.first_conv(x))
        x = self.conv_last(self.features(x))
        x = self.globalpool(x)
        if self.model_size == "2.0x":
            x = self.dropout(x)
        x = x.reshape(-1, self.stage_out_channels[-1])
        return self.classifier(x)

    def _initialize_weights(self) -> None:
        """The official initialisation (normal convs, BN bias 1e-4, N(0, 0.01) classifier)."""
        for name, m in self.named_modules():
            if isinstance(m, M.Conv2d):
                std = 0.01 if "first" in name else 1.0 / m.weight.shape[1]
                M.init.normal_(m.weight, 0, std)
            elif isinstance(m, M.BatchNorm2d):
                M.init.fill_(m.weight, 1)
                M.init.fill_(m.bias, 0.0001)
                M.init.fill_(m.running_mean, 0)
            elif isinstance(m, M.Linear):
                M.init.normal_(m.weight, 0, 0.01)


def shufflenet_v2_x0_5(num_classes: int = 1000, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 0.5x (a small variant for tests)."""
    return ShuffleNetV2(num_classes=num_classes, model_size="0.5x", **kwargs)


def shufflenet_v2_x1_0(num_classes: int = 1000, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 1.0x, as MegEngine's ``shufflenet_v2_x1_0``."""
    return ShuffleNetV2(num_classes=num_classes, model_size="1.0x", **kwargs)


__all__ = ["ShuffleNetV2", "ShuffleV2Block", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0"]
