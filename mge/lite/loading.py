"""From a model file to a graph and plan options: what ``LiteNetwork.load`` reads.

A model is given as a path, bytes or a binary file object; it may be a plain ``.mge``,
a bare encrypted one (``LiteConfig.bare_model_cryption_name``), a Lite packed model
(see :mod:`.packed_model`) or an mge test-case container (``mgbtest0``, loaded with its
checks off). ``enable_io16xc32``/``enable_ioc16`` dumps keep the IO their files declare
(float32, a TypeCvt follows the input), as real MegEngine Lite reports it.

Example:
    >>> model = read_model("resnet18.mge", LiteConfig())       # doctest: +SKIP
    >>> [v.name for v in model.graph.inputs]                   # doctest: +SKIP
    ['data']
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import os
import threading
from collections.abc import Iterator
from typing import IO

from ..graph.ir import Graph
from ..jit.testcase import is_testcase_file, load_testcase_model
from ..runtime.cpu import reduced_precision_dtype
from ..runtime.plan import PlanOptions, plan_backend_class
from ..runtime.staged import Signature, StagedPlanCache
from ..serialization.fbs import Metadata, MgeFormatError
from ..serialization.mge_graph import ValueDependentModel, graph_from_bytes
from ..serialization.mge_staged import StagedModel
from .config import LiteConfig, LiteNetworkIO
from .input_order import lite_input_order
from .packed_model import UnpackedModel, unpack_model
from .struct import LiteDeviceType, LiteTypeError, LiteValueError
from .tensor import LiteLayout

IO16_BITS = 0b11  # GraphOptimizeOptions bits of enable_io16xc32 / enable_ioc16
ModelSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


def read_model_bytes(file: ModelSource) -> tuple[bytes, str]:
    """The bytes of a model given as a path, bytes or binary file object, and a name."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return f.read(), os.fspath(file)
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), "<bytes>"
    if hasattr(file, "read"):
        data = file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise LiteTypeError("the model file object must be opened in binary mode")
        name = getattr(file, "name", "<file>")
        return bytes(data), name if isinstance(name, str) else "<file>"
    raise LiteTypeError(f"load takes a path, bytes or a binary file object, got "
                        f"{type(file).__name__}")


_GC_LOCK = threading.Lock()
_gc_pausers = 0  # loads in progress that paused the cyclic garbage collector


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (a load), back on after the last
    concurrent load that paused it ends, if it was on before.

    A load builds tens of thousands of objects (decoded ops, graph nodes, ONNX nodes)
    that live until it ends, and makes almost no cycles; with a large heap (the
    engines' modules imported) each collection they trigger walks every object in the
    process, which cost a cold load several ms and, when a full collection came due,
    tens of ms. Everything freed by reference counting still is; cycles wait for the
    next collection after the load.
    """
    global _gc_pausers
    with _GC_LOCK:
        pause = _gc_pausers > 0 or gc.isenabled()  # else the caller turned it off
        if pause:
            _gc_pausers += 1
            gc.disable()
    try:
        yield
    finally:
        if pause:
            with _GC_LOCK:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


@dataclasses.dataclass
class LoadedModel:
    """A model read for a network: its graph, metadata and container."""

    graph: Graph | Signature
    metadata: Metadata | None
    container: UnpackedModel
    #: a model with shapes that depend on input values (``graph`` is its signature)
    staged: StagedModel | None = None


def read_model(file: ModelSource, config: LiteConfig, use_info: bool = True,
               source: str | None = None) -> LoadedModel:
    """Read, unpack, decrypt and parse a model (see the module doc); ``source`` names
    the model in messages (default: its path, or ``<bytes>``).

    Raises:
        LiteValueError: the data is not a model mge can read (the message says why).
    """
    data, name = read_model_bytes(file)
    source = source or name
    try:
        if is_testcase_file(data):
            blob = io.BytesIO(data)
            blob.name = source
            model = load_testcase_model(blob)
            if model.staged is not None:  # dynamic shape vars: run in stages
                return LoadedModel(StagedPlanCache.signature_of(model.staged),
                                   model.metadata, UnpackedModel(data), model.staged)
            return LoadedModel(model.graph, model.metadata, UnpackedModel(data))
        container = unpack_model(data, config.bare_model_cryption_name, source, use_info)
        try:
            loaded = graph_from_bytes(container.model, source)
        except ValueDependentModel:  # dynamic shape vars: run in stages
            staged = StagedModel.from_bytes(container.model, source)
            return LoadedModel(StagedPlanCache.signature_of(staged),
                               staged.model.metadata, container, staged)
    except MgeFormatError as exc:
        hint = "" if not config.bare_model_cryption_name else \
            f" (after decryption with {config.bare_model_cryption_name})"
        raise LiteValueError(f"cannot load {source} as a MegEngine model{hint}: "
                             f"{exc}") from None
    return LoadedModel(loaded.graph, loaded.metadata, container)


def model_bits(metadata: Metadata | None) -> int:
    """The optimize-option bits of a model's metadata (0 without valid metadata)."""
    return metadata.optimize_options if metadata is not None and metadata.is_valid else 0


def device_name(config: LiteConfig, device_id: int) -> str:
    """The MegEngine device name of a config's device type."""
    kind = LiteDeviceType(config.device_type)
    if kind == LiteDeviceType.LITE_DEVICE_DEFAULT:
        from ..device import is_cuda_available

        kind = LiteDeviceType.LITE_CUDA if is_cuda_available() else LiteDeviceType.LITE_CPU
    if kind == LiteDeviceType.LITE_CPU:
        return "cpu0"
    if kind == LiteDeviceType.LITE_CUDA:
        return f"gpu{device_id}"
    raise LiteValueError(f"device type {kind.name} is not supported by mge.lite "
                         "(use LITE_CPU or LITE_CUDA)")


def plan_options(config: LiteConfig, threads: int, device_id: int, bits: int) -> PlanOptions:
    """The plan options a config gives for a model with ``bits`` optimize options.

    With ``config.compute_dtype`` unset, float32 models compute in float32; an
    ``enable_ioc16`` model computes in float16 on CUDA, and on CPU in the 16-bit type
    the CPU has units for (else float32); an ``enable_io16xc32`` model computes in
    float32 on CPU.
    """
    options = PlanOptions(backend=config.plan_backend or "auto",
                          device=device_name(config, device_id), threads=threads,
                          compute_dtype=config.compute_dtype,
                          channels_last=config.channels_last)
    if config.compute_dtype is not None or not bits & IO16_BITS:
        return options
    if options.device_kind == "gpu":
        wanted = "float16" if bits & 0b10 else None
    else:
        wanted = (reduced_precision_dtype() or "float32") if bits & 0b10 else "float32"
    candidate = dataclasses.replace(options, compute_dtype=wanted)
    try:
        plan_backend_class(candidate)
    except (RuntimeError, ValueError):
        return options
    return candidate


def get_model_io_info(model_path: ModelSource, config: LiteConfig | None = None
                      ) -> LiteNetworkIO:
    """The inputs (in MegEngine Lite's order) and outputs of a model, names and layouts,
    without compiling it.

    Example:
        >>> [io.name for io in get_model_io_info("shufflenet.mge").inputs]  # doctest: +SKIP
        ['data']
    """
    model = read_model(model_path, config or LiteConfig())
    graph = model.graph
    by_name = {v.name: v for v in graph.inputs}
    ios = LiteNetworkIO()
    for name in lite_input_order(list(by_name)):
        ios.add_input(name, layout=LiteLayout(by_name[name].shape, by_name[name].dtype))
    for k, var in enumerate(graph.outputs):
        ios.add_output(var.name or f"output_{k}", layout=LiteLayout(var.shape, var.dtype))
    return ios


__all__ = ["IO16_BITS", "LoadedModel", "gc_paused", "get_model_io_info", "model_bits",
           "plan_options", "read_model", "read_model_bytes"]
