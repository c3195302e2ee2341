"""MegEngine Lite's packed model container and bare encrypted models.

A packed model is the 12-byte tag ``packed_model`` followed by a FlatBuffers
``PackModel`` (Lite's ``pack_model.fbs``): one ``Model`` with a header (model name, the
decryption methods of the info and of the model, the info parser, the cache parser,
whether the cache is a fast-run cache), an info part (the info blob and a fast-run
cache) and the model data. :func:`unpack_model` decrypts both (see
:mod:`.decryption`) and parses the info with Lite's ``LITE_default`` parser (JSON:
device, options, IO layouts, extra info); :func:`pack_model` writes such a file.
A file without the tag is a bare model, decrypted with ``bare_model_cryption_name``
when that is set.

Example:
    >>> blob = pack_model(b"MGB...", name="net", info={"valid": False})
    >>> unpack_model(blob, "").model
    b'MGB...'
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import flatbuffers

from ..serialization.fbs import MgeFormatError
from ..serialization.fbs.flatbuf import FbReader
from .config import LiteConfig, LiteIO
from .decryption import decrypt
from .persistent_cache import PersistentCache
from .struct import LOGGER, LiteDataType, LiteDeviceType, LiteIOType, LiteValueError
from .tensor import LiteLayout

PACKED_TAG = b"packed_model"
LITE_VERSION = (1, 13, 0)
_DEVICES = {"CPU": LiteDeviceType.LITE_CPU, "CUDA": LiteDeviceType.LITE_CUDA,
            "ATLAS": LiteDeviceType.LITE_ATLAS, "CAMBRICON": LiteDeviceType.LITE_CAMBRICON,
            "NPU": LiteDeviceType.LITE_NPU}
_DTYPES = {"float32": LiteDataType.LITE_FLOAT, "float16": LiteDataType.LITE_HALF,
           "int32": LiteDataType.LITE_INT, "int16": LiteDataType.LITE_INT16,
           "int8": LiteDataType.LITE_INT8, "uint8": LiteDataType.LITE_UINT8}
_IO_TYPES = {"value": LiteIOType.LITE_IO_VALUE, "shape": LiteIOType.LITE_IO_SHAPE}
_OPTIONS = ("weight_preprocess", "fuse_preprocess", "fake_next_exec",
            "var_sanity_check_first_run", "const_shape", "force_dynamic_alloc",
            "force_output_dynamic_alloc", "no_profiling_on_shape_change", "jit_level",
            "comp_node_seq_record_level", "graph_opt_level", "async_exec_level")
_SEPARATE = ("device_id", "number_threads", "enable_inplace_model", "use_tensorrt")


@dataclasses.dataclass
class ModelInfo:
    """What a ``LITE_default`` info sets: config fields, per-network settings, IO."""

    device_type: LiteDeviceType | None = None
    has_compression: bool | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    separate: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: list[LiteIO] = dataclasses.field(default_factory=list)
    outputs: list[LiteIO] = dataclasses.field(default_factory=list)
    extra_info: str = ""

    def apply(self, config: LiteConfig, inputs: list[LiteIO], outputs: list[LiteIO]) -> None:
        """Update ``config`` and the IO lists (IOs named alike are updated, others added)."""
        if self.device_type is not None:
            config.device_type = self.device_type
        if self.has_compression is not None:
            config.has_compression = self.has_compression
        for name, value in self.options.items():
            setattr(config.options, name, value)
        for mine, theirs in ((self.inputs, inputs), (self.outputs, outputs)):
            by_name = {io.name: io for io in theirs}
            for io in mine:
                if io.name in by_name:
                    target = by_name[io.name]
                    target.is_host, target.io_type = io.is_host, io.io_type
                    if io.config_layout.ndim:
                        target.config_layout = io.config_layout
                else:
                    theirs.append(io)


@dataclasses.dataclass
class UnpackedModel:
    """A model file's plain model bytes, and for a packed model its info and cache."""

    model: bytes
    name: str = ""
    info: ModelInfo | None = None
    cache: PersistentCache | None = None


def _io(entry: dict[str, Any], source: str) -> LiteIO:
    def pick(table: dict[str, Any], key: str, what: str) -> Any:
        if key not in table:
            raise LiteValueError(f"{source}: model info: LITE not support {what} of {key}")
        return table[key]

    io = LiteIO(entry["name"])
    if "is_host" in entry:
        io.is_host = bool(entry["is_host"])
    if "io_type" in entry:
        io.io_type = pick(_IO_TYPES, entry["io_type"], "IO type")
    dtype = pick(_DTYPES, entry["dtype"], "data type") if "dtype" in entry else None
    shape = []
    for k in range(4):  # Lite reads dim0..dim3 while present
        if f"dim{k}" not in entry.get("shape", {}):
            break
        shape.append(int(entry["shape"][f"dim{k}"]))
    if 0 in shape:  # Lite writes 0 for absent dims of outputs; such a layout checks nothing
        shape = shape[:shape.index(0)]
    io.config_layout = LiteLayout(shape, dtype)
    return io


def parse_info(blob: bytes, model_name: str, source: str) -> ModelInfo | None:
    """Parse a ``LITE_default`` info (JSON); None when it says ``"valid": false``."""
    text = bytes(blob).split(b"\0", 1)[0]  # decrypted infos carry padding zeros
    try:
        info = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LiteValueError(f"{source}: the model info is not JSON: {exc}") from None
    if not isinstance(info, dict):
        raise LiteValueError(f"{source}: the model info is not a JSON object")
    if not info.get("valid"):
        return None
    if info.get("name") != model_name:
        raise LiteValueError(f"{source}: infomation of model name is not match, packed model "
                             f"is {model_name}, but json info get {info.get('name')}.")
    version = tuple(int(p) for p in str(info.get("version", "0.0.0")).split(".")[:3])
    if version > LITE_VERSION:
        LOGGER.warning("%s: the model info is for Lite %s, newer than 1.13.0", source,
                       info.get("version"))
    result = ModelInfo()
    if "has_compression" in info:
        result.has_compression = bool(info["has_compression"])
    device = info.get("device", {})
    if "type" in device:
        if device["type"] not in _DEVICES:
            raise LiteValueError(f"{source}: LITE not support device type of {device['type']}.")
        result.device_type = _DEVICES[device["type"]]
    result.separate = {k: device[k] for k in _SEPARATE if k in device}
    result.options = {k: v for k, v in info.get("options", {}).items() if k in _OPTIONS}
    ios = info.get("IO", {})
    result.inputs = [_io(e, source) for e in ios.get("inputs", [])]
    result.outputs = [_io(e, source) for e in ios.get("outputs", [])]
    if "extra_info" in info:
        result.extra_info = json.dumps(info["extra_info"])
    return result


def unpack_model(data: bytes, bare_cryption_name: str, source: str = "<model>",
                 use_info: bool = True) -> UnpackedModel:
    """The plain model in ``data`` (packed or bare), with the packed model's info and
    fast-run cache (``use_info=False``: the cache is not read, as Lite's
    ``disable_configure_by_model_info``).

    Raises:
        LiteValueError: malformed container, unknown method, failed decryption.
    """
    if not bytes(data[:len(PACKED_TAG)]) == PACKED_TAG:
        if bare_cryption_name:
            return UnpackedModel(decrypt(bare_cryption_name, data))
        return UnpackedModel(bytes(data))
    reader = FbReader(bytes(data[len(PACKED_TAG):]), source)
    try:
        models = reader.root(0, "PackModel").tables(0, "models")
        if len(models) != 1:
            raise LiteValueError(f"{source}: a packed model holds {len(models)} models; "
                                 "Lite supports exactly one")
        model = models[0]
        header = model.table(0, "header")
        if header is None:
            raise LiteValueError(f"{source}: the packed model has no header")

        def text(slot: int, name: str) -> str:
            value = header.string(slot, name)
            return value.decode("utf-8", "replace") if value is not None else ""

        name = text(0, "name")
        info_table, data_table = model.table(1, "info"), model.table(2, "data")
        body = data_table.array(0, "data") if data_table is not None else None
        info_blob = info_table.array(0, "data") if info_table is not None else None
        cache_blob = info_table.array(1, "algo_policy") if info_table is not None else None
        is_fast_run = bool(header.scalar(5, "?", False, "is_fast_run_cache"))
    except MgeFormatError as exc:
        raise LiteValueError(f"not a valid Lite packed model: {exc}") from None
    if body is None or not body.size:
        raise LiteValueError(f"{source}: The loaded model is of zero length.")
    result = UnpackedModel(decrypt(text(3, "model_decryption_method") or "NONE",
                                   body.tobytes()), name)
    if info_blob is not None:
        parser = text(2, "info_parse_method")
        if parser != "LITE_default":
            raise LiteValueError(f"{source}: can't find model info parse function {parser}.")
        plain = decrypt(text(1, "info_decryption_method") or "NONE", info_blob.tobytes())
        result.info = parse_info(plain, name, source)
    if cache_blob is not None and use_info:
        cache_parser = text(4, "info_cache_parse_method")
        if cache_parser != "LITE_parse_cache":
            raise LiteValueError(f"{source}: model cache parse function of {cache_parser} "
                                 "is not defined.")
        if not is_fast_run:
            raise LiteValueError(f"{source}: opencl binary caches are not supported")
        result.cache = PersistentCache.from_bytes(cache_blob.tobytes(), source)
    return result


def pack_model(model: bytes, name: str = "NONE", info: dict[str, Any] | bytes | None = None,
               model_cryption: str = "NONE", info_cryption: str = "NONE",
               info_parser: str = "LITE_default", cache: bytes | None = None) -> bytes:
    """A Lite packed model (what Lite's ``pack_model_and_info.py`` writes).

    ``model`` and ``info`` are stored as given: encrypt them first (e.g. with
    :func:`mge.lite.rc4.rc4_encrypt`) and name the methods. A dict ``info`` is written
    as JSON. ``cache``: a fast-run persistent cache to embed.
    """
    blob = json.dumps(info).encode() if isinstance(info, dict) else info
    b = flatbuffers.Builder(len(model) + 1024)
    strings = [b.CreateString(s) for s in (name, info_cryption, info_parser, model_cryption,
                                           "LITE_parse_cache" if cache is not None else "")]
    info_vec = b.CreateByteVector(blob) if blob is not None else None
    cache_vec = b.CreateByteVector(cache) if cache is not None else None
    data_vec = b.CreateByteVector(model)
    b.StartObject(6)  # ModelHeader
    for slot, offset in enumerate(strings):
        b.PrependUOffsetTRelativeSlot(slot, offset, 0)
    b.PrependBoolSlot(5, cache is not None, False)
    header = b.EndObject()
    b.StartObject(3)  # ModelInfo
    for slot, vec in ((0, info_vec), (1, cache_vec)):
        if vec is not None:
            b.PrependUOffsetTRelativeSlot(slot, vec, 0)
    model_info = b.EndObject()
    b.StartObject(1)  # ModelData
    b.PrependUOffsetTRelativeSlot(0, data_vec, 0)
    model_data = b.EndObject()
    b.StartObject(3)  # Model
    for slot, table in enumerate((header, model_info, model_data)):
        b.PrependUOffsetTRelativeSlot(slot, table, 0)
    entry = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(entry)
    models = b.EndVector()
    b.StartObject(1)  # PackModel
    b.PrependUOffsetTRelativeSlot(0, models, 0)
    b.Finish(b.EndObject())
    return PACKED_TAG + bytes(b.Output())


__all__ = ["PACKED_TAG", "ModelInfo", "UnpackedModel", "pack_model", "parse_info",
           "unpack_model"]
