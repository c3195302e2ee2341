"""The KServe v2 / Open Inference Protocol's tensors on the wire, with the binary-data extension.

An inference request body is JSON, optionally followed by raw tensor bytes: the
``Inference-Header-Content-Length`` header then gives the JSON part's length, and every input
whose ``parameters.binary_data_size`` is set takes that many bytes, in input order, from what
follows. Responses use the same layout when an output asks for ``binary_data`` (or the request
sets ``binary_data_output``). The classification extension (``parameters.classification: k``
on a requested output) answers ``"score:index[:label]"`` strings (datatype ``BYTES``).

Everything here raises :class:`ProtocolError` (an HTTP status and a message) for bad input; the
server turns it into the protocol's ``{"error": "..."}`` body.

Example:
    >>> import numpy as np
    >>> body = b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}'
    >>> request = parse_infer_request(body, None)
    >>> request.inputs["x"]
    array([1., 2.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: the header naming the JSON part's length when binary tensor data follows it
HEADER_LENGTH = "Inference-Header-Content-Length"

_DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
}
_NAMES = {dtype: name for name, dtype in _DATATYPES.items()}


class ProtocolError(Exception):
    """A request the server answers with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def datatype_of(dtype: np.dtype) -> str:
    """The protocol's datatype string of a numpy dtype (``float32`` -> ``"FP32"``)."""
    try:
        return _NAMES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"dtype {dtype} has no KServe v2 datatype") from None


def dtype_of(datatype: str) -> np.dtype:
    """The numpy dtype of a protocol datatype string; ``BYTES`` and unknown names fail."""
    try:
        return _DATATYPES[datatype]
    except (KeyError, TypeError):
        raise ProtocolError(400, f"unsupported datatype {datatype!r}; expected one of "
                                 f"{sorted(_DATATYPES)}") from None


@dataclasses.dataclass(frozen=True)
class RequestedOutput:
    """An entry of the request's ``outputs``: which tensor, in binary or JSON, or top-k."""

    name: str
    binary: bool
    classification: int = 0


@dataclasses.dataclass
class InferRequest:
    """A parsed inference request: input arrays by name, wanted outputs (None: all)."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None
    binary_output: bool
    timeout_s: float | None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(400, f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _shape(entry: dict[str, Any], name: str) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                              and d >= 0 for d in shape):
        raise ProtocolError(400, f"input {name!r}: 'shape' must be a list of non-negative "
                                 f"integers, got {shape!r}")
    return tuple(shape)


def _json_tensor(entry: dict[str, Any], name: str, shape: tuple[int, ...], dtype: np.dtype
                 ) -> np.ndarray:
    if "data" not in entry:
        raise ProtocolError(400, f"input {name!r} has neither 'data' nor "
                                 "parameters.binary_data_size")
    try:
        array = np.asarray(entry["data"], dtype=dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ProtocolError(400, f"input {name!r}: 'data' is not a list of "
                                 f"{datatype_of(dtype)} values ({exc})") from None
    if array.size != int(np.prod(shape)):
        raise ProtocolError(400, f"input {name!r}: shape {list(shape)} needs "
                                 f"{int(np.prod(shape))} values, 'data' has {array.size}")
    return array.reshape(shape)


def _binary_tensor(blob: memoryview, name: str, shape: tuple[int, ...], dtype: np.dtype
                   ) -> np.ndarray:
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(blob) != expected:
        raise ProtocolError(400, f"input {name!r}: shape {list(shape)} of "
                                 f"{datatype_of(dtype)} is {expected} bytes, "
                                 f"binary_data_size says {len(blob)}")
    return np.frombuffer(blob, dtype=dtype).reshape(shape)


def _requested_outputs(entries: Any) -> list[RequestedOutput] | None:
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise ProtocolError(400, "'outputs' must be a list of objects")
    wanted = []
    for entry in entries:
        entry = _object(entry, "an entry of 'outputs'")
        name = entry.get("name")
        if not isinstance(name, str):
            raise ProtocolError(400, f"an entry of 'outputs' has no string 'name': {entry!r}")
        params = _object(entry.get("parameters") or {}, f"output {name!r} parameters")
        classes = params.get("classification", 0)
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 0:
            raise ProtocolError(400, f"output {name!r}: 'classification' must be a "
                                     f"non-negative integer, got {classes!r}")
        wanted.append(RequestedOutput(name, bool(params.get("binary_data", False)), classes))
    return wanted


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse an infer request body (JSON, or JSON + binary tensors when ``header_length``,
    the ``Inference-Header-Content-Length`` header, is given)."""
    if header_length is not None:
        try:
            json_length = int(header_length)
        except ValueError:
            raise ProtocolError(400, f"{HEADER_LENGTH} must be an integer, got "
                                     f"{header_length!r}") from None
        if not 0 <= json_length <= len(body):
            raise ProtocolError(400, f"{HEADER_LENGTH} is {json_length} but the body has "
                                     f"{len(body)} bytes")
    else:
        json_length = len(body)
    try:
        document = json.loads(body[:json_length])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(400, f"malformed JSON in the request: {exc}") from None
    document = _object(document, "the request")
    entries = document.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise ProtocolError(400, "the request needs a non-empty 'inputs' list")
    binary = memoryview(body)[json_length:]
    offset = 0
    inputs: dict[str, np.ndarray] = {}
    for entry in entries:
        entry = _object(entry, "an entry of 'inputs'")
        name = entry.get("name")
        if not isinstance(name, str):
            raise ProtocolError(400, f"an entry of 'inputs' has no string 'name': "
                                     f"{ {k: v for k, v in entry.items() if k != 'data'} }")
        if name in inputs:
            raise ProtocolError(400, f"input {name!r} is given twice")
        shape = _shape(entry, name)
        dtype = dtype_of(entry.get("datatype"))
        params = _object(entry.get("parameters") or {}, f"input {name!r} parameters")
        size = params.get("binary_data_size")
        if size is None:
            inputs[name] = _json_tensor(entry, name, shape, dtype)
            continue
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise ProtocolError(400, f"input {name!r}: binary_data_size {size!r} does not fit "
                                     f"the {len(binary) - offset} binary bytes left")
        inputs[name] = _binary_tensor(binary[offset:offset + size], name, shape, dtype)
        offset += size
    if offset != len(binary):
        raise ProtocolError(400, f"{len(binary) - offset} binary bytes follow the JSON header "
                                 "that no input claims")
    params = _object(document.get("parameters") or {}, "the request's parameters")
    timeout = params.get("timeout")  # Triton's convention: microseconds
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ProtocolError(400, f"parameters.timeout must be a positive number of "
                                 f"microseconds, got {timeout!r}")
    request_id = document.get("id")
    return InferRequest(
        id=str(request_id) if request_id is not None else None, inputs=inputs,
        outputs=_requested_outputs(document.get("outputs")),
        binary_output=bool(params.get("binary_data_output", False)),
        timeout_s=timeout / 1e6 if timeout is not None else None)


def top_k(scores: np.ndarray, k: int, labels: Sequence[str] | None) -> list[dict[str, Any]]:
    """The ``k`` best classes of one row of scores: index, label (None if unknown), score."""
    flat = scores.reshape(-1)
    best = np.argsort(-flat, kind="stable")[:k]
    return [{"index": int(i), "label": labels[i] if labels is not None and i < len(labels)
             else None, "score": float(flat[i])} for i in best]


def classify(scores: np.ndarray, count: int, labels: Sequence[str] | None) -> np.ndarray:
    """The classification extension: per batch row, the ``count`` best
    ``"score:index[:label]"`` strings (a ``[batch, count]`` object array)."""
    rows = scores.reshape(scores.shape[0], -1) if scores.ndim > 1 else scores[None]
    out = []
    for row in rows:
        out.append([f"{c['score']:f}:{c['index']}" + (f":{c['label']}" if c["label"] else "")
                    for c in top_k(row, count, labels)])
    return np.array(out, dtype=object)


def _bytes_blob(strings: np.ndarray) -> bytes:
    parts = []
    for item in strings.ravel():
        data = str(item).encode()
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def encode_infer_response(model: str, version: str, request_id: str | None,
                          outputs: Sequence[tuple[str, np.ndarray, bool]]
                          ) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers for ``(name, array, binary)`` outputs."""
    entries = []
    blobs = []
    for name, array, binary in outputs:
        is_bytes = array.dtype == object
        entry: dict[str, Any] = {"name": name, "shape": list(array.shape),
                                 "datatype": "BYTES" if is_bytes else datatype_of(array.dtype)}
        if binary:
            blob = _bytes_blob(array) if is_bytes else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = [str(v) for v in array.ravel()] if is_bytes else \
                array.ravel().tolist()
        entries.append(entry)
    document: dict[str, Any] = {"model_name": model, "model_version": version,
                                "outputs": entries}
    if request_id is not None:
        document["id"] = request_id
    header = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return header, {"Content-Type": "application/json"}
    return header + b"".join(blobs), {"Content-Type": "application/octet-stream",
                                      HEADER_LENGTH: str(len(header))}


__all__ = ["HEADER_LENGTH", "InferRequest", "ProtocolError", "RequestedOutput", "classify",
           "datatype_of", "dtype_of", "encode_infer_response", "parse_infer_request", "top_k"]
