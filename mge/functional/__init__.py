"""``mge.functional`` (``F``): MegEngine's functional API, thin layers over ``apply``.

Example:
    >>> import mge, mge.functional as F
    >>> F.add(mge.tensor([1.0]), 2).numpy()
    array([3.], dtype=float32)
"""

from . import elemwise, math, nn, quantized, tensor, vision  # noqa: F401
from .elemwise import *  # noqa: F403
from .math import *  # noqa: F403
from .nn import *  # noqa: F403
from .tensor import *  # noqa: F403
