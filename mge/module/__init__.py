"""``mge.module`` (``M``): MegEngine 1.13's layers and the ``Module`` base class.

Example:
    >>> import mge.module as M
    >>> net = M.Sequential(M.Conv2d(3, 8, 3), M.BatchNorm2d(8), M.ReLU())
    >>> sorted(net.state_dict())[:3]
    ['0.bias', '0.weight', '1.bias']
"""

from . import (  # noqa: F401 - MegEngine's submodule paths (``M.dropout.Dropout``)
    adaptive_pooling,
    concat,
    conv_bn,
    conv_transpose_bn,
    dropout,
    elemwise,
    identity,
    init,
    lrn,
    padding,
)
from .activation import (
    GELU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
)
from .batch_matmul_activation import BatchMatMulActivation
from .batchnorm import BatchNorm1d, BatchNorm2d, SyncBatchNorm
from .conv import (
    Conv1d,
    Conv2d,
    ConvBn2d,
    ConvBnRelu2d,
    ConvRelu2d,
    DeformableConv2d,
    LocalConv2d,
)
from .conv3d import Conv3d, ConvTranspose3d
from .conv_transpose import (
    ConvTranspose2d,
    ConvTransposeBn2d,
    ConvTransposeBnRelu2d,
    ConvTransposeRelu2d,
)
from .embedding import Embedding
from .linear import Linear, LinearRelu
from .linear_bn import LinearBn1d, LinearBnRelu1d
from .module import HookHandler, Module
from .multiheadattn import MultiHeadAttention
from .normalization import GeneralNorm, GroupNorm, InstanceNorm, LayerNorm, LocalResponseNorm
from .pixel_shuffle import PixelShuffle
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .quant_dequant import DequantStub, QuantStub
from .rnn import LSTM, RNN, LSTMCell, RNNCell
from .sequential import Sequential
from .sliding_window import SlidingWindow, SlidingWindowTranspose
from .wrappers import Concat, Dropout, Elemwise, Identity, Pad

__all__ = [
    "GELU",
    "GeneralNorm",
    "GroupNorm",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "BatchMatMulActivation",
    "BatchNorm1d",
    "BatchNorm2d",
    "Concat",
    "Conv1d",
    "DequantStub",
    "Conv2d",
    "Conv3d",
    "ConvBn2d",
    "ConvBnRelu2d",
    "ConvRelu2d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeBn2d",
    "ConvTransposeBnRelu2d",
    "ConvTransposeRelu2d",
    "DeformableConv2d",
    "Dropout",
    "Elemwise",
    "Embedding",
    "MultiHeadAttention",
    "HookHandler",
    "Identity",
    "InstanceNorm",
    "LSTM",
    "LayerNorm",
    "LSTMCell",
    "LeakyReLU",
    "Linear",
    "LocalConv2d",
    "LinearBn1d",
    "LinearBnRelu1d",
    "LinearRelu",
    "LocalResponseNorm",
    "MaxPool2d",
    "Module",
    "PReLU",
    "Pad",
    "PixelShuffle",
    "RNN",
    "RNNCell",
    "QuantStub",
    "ReLU",
    "ReLU6",
    "Hardswish",
    "Hardsigmoid",
    "Sequential",
    "SiLU",
    "SlidingWindow",
    "SlidingWindowTranspose",
    "Sigmoid",
    "Softmax",
    "SyncBatchNorm",
    "init",
]
