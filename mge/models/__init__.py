"""Reference model definitions (MegEngine's official layouts), written only with F and M.

Example:
    >>> from mge.models import resnet18
    >>> sorted(resnet18().state_dict())[:2]
    ['bn1.bias', 'bn1.running_mean']
"""

from .mobilenet_v2 import MobileNetV2, mobilenet_v2
from .resnet import ResNet, resnet18, resnet50
from .shufflenet_v2 import ShuffleNetV2, shufflenet_v2_x0_5, shufflenet_v2_x1_0

__all__ = [
    "MobileNetV2",
    "ResNet",
    "ShuffleNetV2",
    "mobilenet_v2",
    "resnet18",
    "resnet50",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
]
