"""``mge.functional`` (``F``): MegEngine's functional API, thin layers over ``apply``.

Example:
    >>> import mge, mge.functional as F
    >>> F.add(mge.tensor([1.0]), 2).numpy()
    array([3.], dtype=float32)
"""

from . import attention, elemwise, loss, math, nn, quantized, tensor, utils, vision  # noqa: F401
from .attention import multi_head_attention  # noqa: F401 - MegEngine's F.multi_head_attention
from .complex import complex, imag, polar, real  # noqa: F401 - MegEngine's F.tensor holds them
from .elemwise import *  # noqa: F403
from .indexing import cond_take  # noqa: F401 - MegEngine's F.cond_take
from .loss import *  # noqa: F403
from .math import *  # noqa: F403
from .nn import *  # noqa: F403
from .tensor import *  # noqa: F403

# MegEngine's F.nn also carries the losses (F.nn.cross_entropy); loss.py builds on nn.py
for _name in loss.__all__:
    setattr(nn, _name, getattr(loss, _name))
nn.__all__ = [*nn.__all__, *loss.__all__]
# and multi_head_attention, which is built of F.nn's functions (dropout among them)
nn.multi_head_attention = attention.multi_head_attention
nn.__all__.append("multi_head_attention")
for _name in ("complex", "imag", "polar", "real"):  # MegEngine's F.tensor.polar...
    setattr(tensor, _name, globals()[_name])
