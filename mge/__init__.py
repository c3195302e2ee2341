"""mge: MegEngine's model-deployment stack rebuilt in Python.

Eager tensors and modules (``mge.Tensor``, ``mge.functional``, ``mge.module``),
static graphs in MegEngine's own ``.mge`` format (``mge.jit``), TracedModule
(``mge.traced_module``) and the Lite runtime (``mge.lite``).

Example:
    >>> import mge
    >>> import mge.functional as F
    >>> F.relu(mge.tensor([-1.0, 1.0])).numpy()
    array([0., 1.], dtype=float32)
"""

from . import ops  # noqa: F401  (registers the op vocabulary)
from .backends import available_backends, get_default_backend, set_default_backend
from .device import (
    coalesce_free_memory,
    get_default_device,
    get_device_count,
    is_cuda_available,
    set_default_device,
)
from .logger import enable_debug_log, get_logger, set_log_file, set_log_level
from .tensor import Parameter, Tensor, tensor

__version__ = "0.1.0"

from . import amp, autodiff, config, data, functional, hub, jit, module, optimizer, random  # noqa: E402,F401,E501
from .serialization import load, save  # noqa: E402


def _full_sync() -> None:
    """Wait for all queued work (MegEngine's; mge runs eagerly, so nothing waits)."""


_sync = _full_sync

__all__ = [
    "Parameter",
    "Tensor",
    "__version__",
    "amp",
    "autodiff",
    "available_backends",
    "coalesce_free_memory",
    "config",
    "data",
    "enable_debug_log",
    "functional",
    "get_default_backend",
    "get_default_device",
    "get_device_count",
    "get_logger",
    "hub",
    "is_cuda_available",
    "jit",
    "load",
    "module",
    "optimizer",
    "random",
    "save",
    "set_default_backend",
    "set_default_device",
    "set_log_file",
    "set_log_level",
    "tensor",
]
