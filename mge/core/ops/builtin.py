"""``megengine.core.ops.builtin``: the op classes mge shares with MegEngine's builtin ops,
under MegEngine's names (``Elemwise(Elemwise.Mode.ADD)``), to run with
``megengine.core._imperative_rt.core2.apply``. Ops whose MegEngine builtin name differs
from mge's operator name (``Convolution``, ``Pooling``...) are not listed.

Example:
    >>> import mge
    >>> from mge.core._imperative_rt.core2 import apply
    >>> (y,) = apply(Elemwise(Elemwise.Mode.ADD), mge.tensor([1.0]), mge.tensor([2.0]))
    >>> y.numpy()
    array([3.], dtype=float32)
"""

from __future__ import annotations

from ...ops.conv import ConvolutionBackwardData
from ...ops.elemwise import Elemwise, TypeCvt
from ...ops.nn import (
    BatchedMatrixMul,
    BatchNormBackward,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixMul,
)
from ...ops.optim import LAMBUpdate
from ...ops.quantized import LSQ, TQT, ElemwiseMultiType, FakeQuant
from ...ops.random import (
    BetaRNG,
    GammaRNG,
    GaussianRNG,
    PermutationRNG,
    PoissonRNG,
    ShuffleRNG,
    UniformRNG,
)
from ...ops.reduce import Argmax, Argmin, Cumsum, Reduce, TopK
from ...ops.shape import (
    Broadcast,
    Concat,
    Diag,
    Dimshuffle,
    Eye,
    Fill,
    GetVarShape,
    IndexingIncrMultiAxisVec,
    IndexingMultiAxisVec,
    IndexingSetMultiAxisVec,
    Linspace,
    Padding,
    Reshape,
    SetSubtensor,
    Subtensor,
)
from ...ops.utility import AssertEqual
from ...ops.vision.detection import NMSKeep

__all__ = ["Argmax", "Argmin", "AssertEqual", "BatchNormBackward", "BatchedMatrixMul", "BetaRNG",
           "Broadcast", "Concat", "ConvolutionBackwardData", "Cumsum", "Diag", "Dimshuffle",
           "Elemwise", "ElemwiseMultiType", "Eye", "Fill", "GammaRNG", "GaussianRNG",
           "GetVarShape", "GroupNorm",
           "IndexingMultiAxisVec", "IndexingSetMultiAxisVec", "InstanceNorm", "LayerNorm",
           "Linspace", "MatrixMul", "NMSKeep", "Padding", "PermutationRNG", "PoissonRNG", "Reduce",
           "Reshape", "SetSubtensor", "ShuffleRNG", "Subtensor", "TopK", "TypeCvt", "UniformRNG",
           "IndexingIncrMultiAxisVec", "LAMBUpdate", "FakeQuant", "TQT", "LSQ"]
