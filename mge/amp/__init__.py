"""``mge.amp`` (MegEngine's ``megengine.amp``): ``autocast``, ``GradScaler`` and the
NHWC format conversion (``convert_module_format``, ``convert_tensor_format``).

``mge.amp.enabled``, ``low_prec_dtype`` and ``high_prec_dtype`` read and set the state
in ``mge.core.tensor.amp``, as MegEngine's module properties do.

Example:
    >>> import mge
    >>> with mge.amp.autocast():
    ...     mge.amp.enabled
    True
    >>> mge.amp.enabled
    False
"""

from __future__ import annotations

import sys
import types

from ..core.tensor import amp as _state
from .autocast import autocast
from .convert_format import convert_module_format, convert_tensor_format
from .grad_scaler import GradScaler


class _AmpModule(types.ModuleType):
    @property
    def enabled(self) -> bool:
        """Whether autocast mode is on."""
        return _state._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        _state._enabled = bool(value)

    @property
    def high_prec_dtype(self) -> str:
        """The dtype autocast keeps precision-sensitive ops in (default float32)."""
        return _state._get_amp_high_prec_dtype()

    @high_prec_dtype.setter
    def high_prec_dtype(self, dtype: str) -> None:
        _state._set_amp_high_prec_dtype(dtype)

    @property
    def low_prec_dtype(self) -> str:
        """The dtype autocast casts convolutions and matrix products to (default float16)."""
        return _state._get_amp_low_prec_dtype()

    @low_prec_dtype.setter
    def low_prec_dtype(self, dtype: str) -> None:
        _state._set_amp_low_prec_dtype(dtype)


sys.modules[__name__].__class__ = _AmpModule

__all__ = ["GradScaler", "autocast", "convert_module_format", "convert_tensor_format"]
