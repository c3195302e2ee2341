"""megenginelite's configuration objects: ``LiteOptions``, ``LiteConfig``, ``LiteIO``,
``LiteNetworkIO``, ``LiteExtraConfig``.

The fields are MegEngine's, with its defaults. ``LiteConfig`` has four mge extras that
choose how the compiled plan runs:

* ``plan_backend``: ``"auto"`` (the fastest available), ``"torch"``, ``"numpy"``...;
* ``compute_dtype``: ``None`` (automatic: float32 graphs compute in float32; ``enable_ioc16``
  dumps compute in the 16-bit type the CPU has units for, or float16 on CUDA),
  ``"float32"``, ``"bfloat16"`` or ``"float16"``;
* ``channels_last``: ``None`` (the backend's choice), ``True`` or ``False``;
* ``load_cache``: ``True`` (default) keeps what a load compiled on disk for the next load
  of the same file (:mod:`mge.lite.load_cache`), ``False`` does not.

Example:
    >>> config = LiteConfig(LiteDeviceType.LITE_CPU)
    >>> config.compute_dtype = "bfloat16"
    >>> config.options.weight_preprocess = True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from .struct import LiteBackend, LiteDeviceType, LiteIOType, LiteTypeError
from .tensor import LiteLayout


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise LiteTypeError(f"expected str or bytes, got {type(value).__name__}")
    return value


class _TextField:
    """A ``str`` attribute that also accepts UTF-8 ``bytes`` (kept in ``_<name>``)."""

    def __init__(self, doc: str = "") -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj: Any, value: str | bytes) -> None:
        setattr(obj, self.slot, _text(value))


#: LiteOptions' fields and MegEngine's defaults
_OPTION_DEFAULTS: dict[str, bool | int] = {
    "weight_preprocess": False, "fuse_preprocess": False, "fake_next_exec": False,
    "var_sanity_check_first_run": True, "const_shape": False, "force_dynamic_alloc": False,
    "force_output_dynamic_alloc": False, "force_output_use_user_specified_memory": False,
    "no_profiling_on_shape_change": False, "jit_level": 0, "comp_node_seq_record_level": 0,
    "graph_opt_level": 2, "async_exec_level": 1, "enable_nchw44": False,
    "enable_nchw44_dot": False, "enable_nchw88": False, "enable_nhwcd4": False,
    "enable_nchw4": False, "enable_nchw32": False, "enable_nchw64": False,
}


class LiteOptions:
    """Inference options (MegEngine's fields and defaults).

    mge compiles every network into a plan with constants folded and weights prepared,
    so ``weight_preprocess``, ``const_shape``, ``var_sanity_check_first_run``,
    ``comp_node_seq_record_level``, ``graph_opt_level``, ``jit_level`` and
    ``async_exec_level`` are accepted and have nothing more to do; the ``enable_nchw*``
    layout options are recorded (mge's backends keep NCHW, or channels-last via
    ``LiteConfig.channels_last``).
    """

    def __init__(self) -> None:
        for name, default in _OPTION_DEFAULTS.items():
            setattr(self, name, default)

    def __repr__(self) -> str:
        return repr(dict(vars(self)))


class LiteConfig:
    """How to load and run a network (MegEngine's fields, plus mge's plan choices)."""

    bare_model_cryption_name = _TextField("The decryption method's name.")
    discrete_input_name = _TextField(
        "The input given as separate batch-1 tensors (``get_discrete_tensor``).")

    def __init__(self, device_type: LiteDeviceType = LiteDeviceType.LITE_CPU,
                 option: LiteOptions | None = None) -> None:
        self.device_type = LiteDeviceType(device_type)
        self.options = option if option is not None else LiteOptions()
        self.has_compression = False
        self.device_id = 0
        self.backend = LiteBackend.LITE_DEFAULT
        self.bare_model_cryption_name = ""
        self.auto_optimize_inference = False
        self.use_loader_dynamic_param = 0
        self.discrete_input_name = ""
        self.plan_backend = "auto"
        self.compute_dtype: str | None = None
        self.channels_last: bool | None = None
        #: keep the exported engine model on disk and reuse it on later loads (mge extra;
        #: see :mod:`mge.lite.load_cache`)
        self.load_cache = True

    def __repr__(self) -> str:
        data = {k.lstrip("_"): v for k, v in vars(self).items()}
        return repr(data)


class LiteExtraConfig:
    """Extra configuration: ``disable_configure_by_model_info`` (recorded)."""

    def __init__(self, disable_model_config: bool = False) -> None:
        self.disable_configure_by_model_info = bool(disable_model_config)

    def __repr__(self) -> str:
        return repr({"disable_configure_by_model_info": self.disable_configure_by_model_info})


class LiteIO:
    """One network input or output: its name, whether it lives on the host, whether
    its values or only its shape matter, and a layout (an input's initial shape; an
    output's expected one).

    Example:
        >>> io = LiteIO("data", is_host=True, layout=LiteLayout([1, 3, 224, 224]))
        >>> io.name
        'data'
    """

    name = _TextField("The input's or output's name.")

    def __init__(self, name: str | bytes, is_host: bool = True,
                 io_type: LiteIOType = LiteIOType.LITE_IO_VALUE,
                 layout: LiteLayout | None = None) -> None:
        self.name = name
        self.is_host = is_host
        self.io_type = LiteIOType(io_type)
        self.config_layout = layout if layout is not None else LiteLayout()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return repr({"name": self.name, "is_host": bool(self.is_host),
                     "io_type": self.io_type, "config_layout": self.config_layout})


def _as_io(item: LiteIO | Sequence[Any]) -> LiteIO:
    if isinstance(item, LiteIO):
        return item
    if isinstance(item, (list, tuple)):
        return LiteIO(*item)
    raise LiteTypeError(f"LiteNetworkIO takes LiteIO objects or [name, is_host, ...] lists, "
                        f"got {type(item).__name__}")


class LiteNetworkIO:
    """The configured inputs and outputs of a network (lists of ``LiteIO``).

    Example:
        >>> io = LiteNetworkIO()
        >>> io.add_input("data", is_host=True)
        >>> io.add_output(LiteIO("prob"))
        >>> [i.name for i in io.inputs], [o.name for o in io.outputs]
        (['data'], ['prob'])
    """

    def __init__(self, inputs: Sequence[Any] | None = None,
                 outputs: Sequence[Any] | None = None) -> None:
        self.inputs: list[LiteIO] = [_as_io(i) for i in inputs or ()]
        self.outputs: list[LiteIO] = [_as_io(o) for o in outputs or ()]

    def add_input(self, obj: LiteIO | str, is_host: bool = True,
                  io_type: LiteIOType = LiteIOType.LITE_IO_VALUE,
                  layout: LiteLayout | None = None) -> None:
        """Add an input (a ``LiteIO`` or its fields)."""
        self.inputs.append(obj if isinstance(obj, LiteIO) else
                           LiteIO(obj, is_host, io_type, layout))

    def add_output(self, obj: LiteIO | str, is_host: bool = True,
                   io_type: LiteIOType = LiteIOType.LITE_IO_VALUE,
                   layout: LiteLayout | None = None) -> None:
        """Add an output (a ``LiteIO`` or its fields)."""
        self.outputs.append(obj if isinstance(obj, LiteIO) else
                            LiteIO(obj, is_host, io_type, layout))

    def _create_network_io(self) -> _NetworkIOView:
        """megenginelite's C view of the lists (counts and items), for its tests."""
        return _NetworkIOView(tuple(self.inputs), tuple(self.outputs), len(self.inputs),
                              len(self.outputs))

    def __repr__(self) -> str:
        return repr({"inputs": self.inputs, "outputs": self.outputs})


class _NetworkIOView(NamedTuple):
    inputs: tuple[LiteIO, ...]
    outputs: tuple[LiteIO, ...]
    input_size: int
    output_size: int


__all__ = ["LiteConfig", "LiteExtraConfig", "LiteIO", "LiteNetworkIO", "LiteOptions"]
