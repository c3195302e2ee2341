"""``mge.lite``: megenginelite's Python API over mge's compiled execution plans.

Load a ``.mge`` model and run it exactly as with ``megenginelite`` (also importable
under that name): ``LiteNetwork``, ``LiteTensor``, ``LiteLayout``, ``LiteConfig``,
``LiteOptions``, ``LiteIO``, ``LiteNetworkIO`` and the enums, with MegEngine's names and
values. Each network compiles its model into a plan (:mod:`mge.runtime.plan`) run by
the fastest available backend (torch, else numpy), or the one ``LiteConfig.plan_backend``
names.

Example:
    >>> from mge.lite import LiteNetwork
    >>> network = LiteNetwork()
    >>> network.load("resnet18.mge")                                    # doctest: +SKIP
    >>> network.get_io_tensor("data").set_data_by_share(img)             # doctest: +SKIP
    >>> network.forward()                                                # doctest: +SKIP
    >>> network.wait()                                                   # doctest: +SKIP
    >>> name = network.get_all_output_name()[0]                          # doctest: +SKIP
    >>> network.get_io_tensor(name).to_numpy().argmax()                  # doctest: +SKIP
"""

from .callbacks import start_finish_callback, wrap_async_callback
from .config import LiteConfig, LiteExtraConfig, LiteIO, LiteNetworkIO, LiteOptions
from .environment import check_misc, config_env
from .global_setting import LiteGlobal, decryption_func
from .guard import LiteConcurrencyError
from .loading import get_model_io_info
from .network import LiteNetwork
from .packed_model import pack_model
from .struct import (
    LiteAlgoSelectStrategy,
    LiteBackend,
    LiteDataType,
    LiteDeviceType,
    LiteError,
    LiteIOType,
    LiteLogLevel,
    LiteTensorPhase,
    LiteTypeError,
    LiteValueError,
    get_log_level,
    set_log_level,
)
from .tensor import (
    MAX_DIM,
    LiteContiguityError,
    LiteLayout,
    LiteTensor,
    LiteTensorConcat,
    lite_dtype_2_numpy,
)
from .utils import TensorBatchCollector

config_env()  # as megenginelite on import: CUDA modules load lazily unless configured

#: the MegEngine Lite version whose API this mirrors
version = "1.13.0"
__version__ = version

__all__ = [
    "MAX_DIM",
    "LiteAlgoSelectStrategy",
    "LiteBackend",
    "LiteConcurrencyError",
    "LiteConfig",
    "LiteContiguityError",
    "LiteDataType",
    "LiteDeviceType",
    "LiteError",
    "LiteExtraConfig",
    "LiteGlobal",
    "LiteIO",
    "LiteIOType",
    "LiteLayout",
    "LiteLogLevel",
    "LiteNetwork",
    "LiteNetworkIO",
    "LiteOptions",
    "LiteTensor",
    "LiteTensorConcat",
    "LiteTensorPhase",
    "LiteTypeError",
    "LiteValueError",
    "TensorBatchCollector",
    "check_misc",
    "config_env",
    "decryption_func",
    "get_log_level",
    "get_model_io_info",
    "lite_dtype_2_numpy",
    "pack_model",
    "set_log_level",
    "start_finish_callback",
    "version",
    "wrap_async_callback",
]
