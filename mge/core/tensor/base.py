"""The ``Tensor`` class of the core: data, shape, dtype and device, and what needs no math.

``apply`` wraps every op's outputs in this class. Its math methods (operators,
``reshape``, indexing, reductions) delegate to ``mge.functional`` and are installed by
:mod:`mge.tensor`, the layer above ``F``, which is the class's public home
(``mge.Tensor`` is ``mge.tensor.Tensor`` is this class).

Example:
    >>> from mge.core.tensor.base import Tensor
    >>> t = Tensor([[1, 2], [3, 4]], dtype="float32")
    >>> t.shape, t.dtype, t.numpy().sum()
    ((2, 2), dtype('float32'), np.float32(10.0))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...backends import Backend, get_backend
from ...device import DeviceName, get_default_device, parse_device
from ...dtype import canonical_dtype, codes_as_quantized, is_quantize, scalar_dtype
from ..qparams import QParams, create_qparams
from ..tracing import (
    TENSOR_INIT_OBSERVERS,
    VALUE_READ_OBSERVERS,
    active_call_tracer,
    call_tracer,
)

#: where users (and pickles) find these names: the public module ``mge.tensor``
PUBLIC_MODULE = "mge.tensor"
#: ``ComplexTensor.from_numpy`` once :mod:`mge.core.complex` is imported: builds
#: ``Tensor(data)`` for complex64 data or ``dtype="complex64"`` (MegEngine's complex tensors)
COMPLEX_FACTORY: list[Any] = []


def _to_numpy_value(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data.numpy()
    elif isinstance(data, np.ndarray):
        arr = data
    else:
        arr = np.asarray(data)
        if dtype is None and arr.dtype.kind in "iuf" and arr.dtype.itemsize == 8:
            arr = arr.astype(scalar_dtype(arr.flat[0].item()) if arr.size else np.float32)
    target = canonical_dtype(dtype if dtype is not None else arr.dtype)
    if is_quantize(target):
        return codes_as_quantized(arr, target)
    return np.array(arr, dtype=target, order="C", copy=True)


class Tensor:
    """A multi-dimensional array (MegEngine semantics: float32/int32 defaults).

    Args:
        data: array-like, scalar or Tensor.
        dtype: target dtype (numpy-compatible); default from the data.
        device: device name such as ``cpu0``, ``gpu0`` or ``xpux``.
        is_const: kept for API compatibility.
        no_cache: kept for API compatibility.
        name: optional name (used for graph var names when tracing).
        format: the layout tag MegEngine keeps on a tensor (``"default"``, ``"nchw"``,
            ``"nhwc"``); values and shapes stay logical (NCHW), ops carry the tag on as
            MegEngine's format transformation does. A Tensor ``data`` passes its own on.
    """

    __slots__ = (
        "_data", "_backend", "_shape", "_dtype", "_device", "_name", "_qparams", "_grad", "_tape",
        "_format", "__weakref__",
    )
    __array_priority__ = 1000

    def __new__(cls, data: Any = None, dtype: Any = None, *args: Any, **kwargs: Any) -> Tensor:
        if COMPLEX_FACTORY and _is_complex_request(data, dtype):
            device = kwargs.get("device", args[0] if args else None)
            return COMPLEX_FACTORY[0](data, dtype, device)
        return object.__new__(cls)

    def __init__(
        self,
        data: Any = None,
        dtype: Any = None,
        device: str | None = None,
        is_const: bool = False,
        no_cache: bool = False,
        name: str | None = None,
        format: str = "default",
    ) -> None:
        if TENSOR_INIT_OBSERVERS:  # a module tracer records constructions (core.tracing)
            self._observed_init(data, dtype, device, is_const, no_cache, name, format)
        else:
            self._construct(data, dtype, device, name, format)

    def _construct(self, data: Any, dtype: Any, device: str | None, name: str | None,
                   format: str) -> None:
        if data is None:
            data = []
        if isinstance(data, Tensor):
            _check_tensor_source(data, dtype, device)
        value = _to_numpy_value(data, dtype)
        backend = get_backend()
        self._device = device or (data._device if isinstance(data, Tensor) else None)
        if self._device is None:
            self._device = get_default_device()
        else:
            parse_device(self._device)
        self._data = backend.asarray(value, self._device)
        self._backend = backend
        self._shape = tuple(value.shape)
        self._dtype = value.dtype
        self._name = name
        self._qparams = None
        self._grad = self._tape = None
        if format == "default" and isinstance(data, Tensor):
            format = data._format
        self._format = check_format(format)

    def _observed_init(self, data: Any, dtype: Any, device: str | None, is_const: bool,
                       no_cache: bool, name: str | None, format: str) -> None:
        """``__init__`` with call tracing paused, then reported to the tensor-init
        observers with the arguments given (those left at their defaults omitted)."""
        with call_tracer(None):
            self._construct(data, dtype, device, name, format)
        given = {"dtype": dtype, "device": device, "is_const": is_const,
                 "no_cache": no_cache, "name": name, "format": format}
        kwargs = {k: v for k, v in given.items() if v is not _INIT_DEFAULTS[k]}
        for observe in list(TENSOR_INIT_OBSERVERS):
            observe(self, (data,), kwargs)

    @classmethod
    def _wrap(
        cls,
        array: Any,
        shape: tuple[int, ...],
        dtype: np.dtype,
        backend: Backend,
        device: str | None = None,
    ) -> Tensor:
        """Wrap a backend array whose shape and dtype are already known (no copy)."""
        t = object.__new__(cls)
        t._data = array
        t._backend = backend
        t._shape = shape
        t._dtype = dtype
        t._device = device or get_default_device()
        t._name = None
        t._qparams = None
        t._grad = t._tape = None
        t._format = "default"
        return t

    def _array_on(self, backend: Backend) -> Any:
        """This tensor's array for ``backend``, converted (and cached) if it lives elsewhere."""
        if self._backend is not backend:
            self._data = backend.asarray(self._backend.to_numpy(self._data), self._device)
            self._backend = backend
        return self._data

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape as a tuple of ints."""
        return self._shape

    @property
    def _tuple_shape(self) -> tuple[int, ...]:
        """The shape (MegEngine's internal name, used by its training tests)."""
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def qparams(self) -> QParams:
        """How this tensor is quantized (scale, zero point, dtype family; MegEngine's
        ``Tensor.qparams``): set by observers and fake quantization, read by
        ``fake_quant_bias``. A fresh tensor's has ``mode=SYMMERTIC`` and no scale.

        Example:
            >>> t = Tensor([1.0])
            >>> t.qparams.scale = 0.5
            >>> t.qparams.scale
            0.5
        """
        if self._qparams is None:
            self._qparams = create_qparams()
        return self._qparams

    @qparams.setter
    def qparams(self, value: QParams) -> None:
        if not isinstance(value, QParams):
            raise TypeError(f"Tensor.qparams must be a QParams, got {type(value).__name__}")
        self._qparams = value

    @property
    def device(self) -> str:
        """The device name (a ``str`` with MegEngine's ``logical_name``, ``"cpu0:0"``)."""
        return DeviceName(self._device)

    @property
    def name(self) -> str:
        """The user-given name (``""`` when none, as in MegEngine)."""
        return self._name or ""

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    @property
    def format(self) -> str:
        """The layout tag (``"default"``, ``"nchw"`` or ``"nhwc"``; see the class doc).

        Example:
            >>> Tensor([[[[1.0]]]], format="nhwc").format
            'nhwc'
        """
        return self._format

    @format.setter
    def format(self, value: str) -> None:
        self._format = check_format(value)

    # ----------------------------------------------------------------- conversion
    def _value_access(self, what: str) -> None:
        """Let an active module tracer refuse Python use of a traced value, and tell
        ``jit.trace`` of the read (:data:`~mge.core.tracing.VALUE_READ_OBSERVERS`)."""
        hook = getattr(active_call_tracer(), "on_value_access", None)
        if hook is not None:
            hook(self, what)
        for observer in VALUE_READ_OBSERVERS:
            observer.read(self, what)

    def numpy(self) -> np.ndarray:
        """A numpy copy of the data."""
        self._value_access("numpy()")
        return self._host_copy()

    def _host_copy(self) -> np.ndarray:
        out = np.array(self._backend.to_numpy(self._data), dtype=self._dtype, copy=True)
        # numpy drops a quantized dtype's metadata when the storage dtype already matches
        return out.view(self._dtype) if is_quantize(self._dtype) else out

    def item(self, *index: Any) -> Any:
        """The single element (or the element at ``index``) as a Python scalar."""
        if index:
            return self[index].item()
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self._shape}")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __array_wrap__(self, array: np.ndarray, context: Any = None,
                       return_scalar: bool = False) -> Tensor:
        """A numpy ufunc's result on this tensor as a Tensor on its device (MegEngine's)."""
        return type(self)(array, dtype=array.dtype, device=self._device)

    def _place(self, device: str) -> None:
        """Move the data to ``device`` (the same array when the backend keeps it there
        already) and tag the tensor with it."""
        parse_device(device)
        if self._backend is not None:  # a VarNode of a graph being built holds no data
            self._data = self._backend.on_device(self._data, device)
        self._device = device

    def detach(self) -> Tensor:
        """The same data, cut off from gradient tracking."""
        return Tensor._wrap(self._data, self._shape, self._dtype, self._backend, self._device)

    def _dev_tensor(self) -> DeviceTensorND:
        """MegEngine's device-tensor handle of the value (what a graph's
        ``InputNode.set_value`` takes)."""
        return DeviceTensorND(self.detach())

    @property
    def grad(self) -> Tensor | None:
        """The gradient ``GradManager.backward`` accumulated here (``None`` until then)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        self._grad = value

    def reset_zero(self) -> None:
        """Fill with zeros in place (``Module.zero_grad`` does this to gradients)."""
        self.set_value(np.zeros(self._shape, self._dtype))

    def set_value(self, value: Any) -> None:
        """Replace the data in place (shape and dtype may change, as in MegEngine); the
        tensor then stands for ``value`` in gradient tracking too."""
        new = value if isinstance(value, Tensor) else Tensor(value, dtype=self._dtype)
        self._data, self._backend = new._data, new._backend
        self._shape, self._dtype = new._shape, new._dtype
        self._tape = new._tape
        self._format = new._format

    _reset = set_value

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):  # noqa: ANN204
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        self._value_access("bool()")
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self._shape} is ambiguous"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, got {self._dtype}")
        return int(self.item())

    def __repr__(self) -> str:
        self._value_access("repr()")  # printed, not used: jit.trace bakes nothing
        body = np.array2string(self._host_copy(), separator=" ", prefix="Tensor(")
        dt = "" if self._dtype == np.float32 else f", dtype={self._dtype}"
        return f"Tensor({body}{dt}, device={self._device})"

    __hash__ = object.__hash__

    def __reduce__(self) -> Any:
        args = (type(self), self.numpy(), self._device, self._name)
        if self._qparams is None:
            return (_rebuild_tensor, args)
        return (_rebuild_tensor, args, {"qparams": self._qparams})

    def __getnewargs__(self) -> tuple[np.ndarray, np.dtype, str]:
        """MegEngine's pickle arguments ``(array, dtype, device logical name)``; mge pickles
        with ``__reduce__``, which also keeps the name and the Parameter class."""
        return (self.numpy(), self._dtype, str(self.device.logical_name))

    def __getstate__(self) -> dict[str, Any]:
        """MegEngine's pickle state: the quantization params, when there are any."""
        return {} if self._qparams is None else {"qparams": self._qparams}

    def __setstate__(self, state: Any) -> None:
        """Restore the quantization params MegEngine (and mge) pickle after a Tensor.

        MegEngine 1.1 pickles kept the data in the state too (``data``, ``dtype``,
        ``device``, on an empty ``Tensor``), and 1.1/1.2 the params as ``qdict``.
        """
        if isinstance(state, dict) and "data" in state:
            self._construct(np.asarray(state["data"]), state.get("dtype"),
                            str(state.get("device") or "") or None, None, "default")
        qdict = state.get("qdict") if isinstance(state, dict) else None
        if isinstance(qdict, dict) and any(v is not None for v in qdict.values()):
            raise ValueError("Tensor.__setstate__: a MegEngine 1.1/1.2 tensor with "
                             f"quantization params (qdict keys {sorted(qdict)}) is not "
                             "supported; save it again with MegEngine 1.13")
        qparams = state.get("qparams") if isinstance(state, dict) else None
        self._qparams = qparams if isinstance(qparams, QParams) else None


def _is_complex_request(data: Any, dtype: Any) -> bool:
    """``Tensor(data, dtype)`` makes a complex tensor: complex64 data or dtype."""
    if dtype is not None:
        try:
            return np.dtype(dtype) == np.complex64
        except (TypeError, ValueError):  # quantized dtype names
            return False
    return getattr(data, "dtype", None) == np.complex64


def _check_tensor_source(data: Tensor, dtype: Any, device: str | None) -> None:
    """MegEngine's rule for ``Tensor(tensor, dtype=, device=)``: neither may differ from
    the source's (convert with ``astype``/``to``); a ``RuntimeError`` saying which."""
    if dtype is not None and canonical_dtype(dtype) != data._dtype:
        raise RuntimeError(f"Tensor(tensor, dtype={np.dtype(canonical_dtype(dtype))}): the "
                           f"source tensor is {data._dtype}; use tensor.astype(dtype)")
    if device is not None and _device_key(device) != _device_key(data._device):
        raise RuntimeError(f"Tensor(tensor, device={device!r}): the source tensor is on "
                           f"{data._device!r}; use tensor.to(device)")


def _device_key(device: str) -> str:
    """A device name compared as MegEngine compares comp nodes (``xpux`` matches any)."""
    kind, index = parse_device(device)
    stream = str(device).partition(":")[2] or "0"
    if kind == "xpu" and index < 0:
        return "any"
    return f"{'cpu' if kind == 'xpu' else kind}{max(index, 0)}:{stream}"


#: the layout tags a Tensor may carry (MegEngine's ``Format::Type``)
FORMATS = ("default", "nchw", "nhwc")


#: ``Tensor.__init__``'s defaults (what ``_observed_init`` leaves out of the kwargs it reports)
_INIT_DEFAULTS = {"dtype": None, "device": None, "is_const": False, "no_cache": False,
                  "name": None, "format": "default"}


def check_format(value: str) -> str:
    """``value`` if it is a known format tag; a ``ValueError`` naming the tags otherwise."""
    if value not in FORMATS:
        raise ValueError(f"Tensor format must be one of {FORMATS}, got {value!r}")
    return value


def _rebuild_tensor(cls: type, value: np.ndarray, device: str, name: str | None) -> Tensor:
    t = cls(value, device=device)
    t._name = name
    return t


class Parameter(Tensor):
    """A Tensor that is a trainable parameter of a Module (it takes attributes of its own,
    as MegEngine's do: training code keeps e.g. a gradient backup on it)."""


for _public in (Tensor, Parameter, _rebuild_tensor):
    _public.__module__ = PUBLIC_MODULE

class DeviceTensorND:
    """MegEngine's handle of a value on a device (``Tensor._dev_tensor()``; what graph
    inputs take and output callbacks receive): ``numpy()``, ``shape``, ``dtype`` and
    ``comp_node`` (the device name).

    Example:
        >>> Tensor([1.0, 2.0])._dev_tensor().shape
        (2,)
    """

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor

    def numpy(self) -> np.ndarray:
        return self.tensor.numpy()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape

    @property
    def dtype(self) -> np.dtype:
        return self.tensor.dtype

    @property
    def comp_node(self) -> str:
        return self.tensor.device


__all__ = ["PUBLIC_MODULE", "DeviceTensorND", "Parameter", "Tensor"]
