"""KServe v2 request parsing and response encoding, JSON and binary (no server)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mge.serve.protocol import (
    HEADER_LENGTH,
    ProtocolError,
    classify,
    datatype_of,
    dtype_of,
    encode_infer_response,
    parse_infer_request,
    top_k,
)


def _binary_request(arrays: dict[str, np.ndarray], **extra: object) -> tuple[bytes, str]:
    inputs = [{"name": n, "shape": list(a.shape), "datatype": datatype_of(a.dtype),
               "parameters": {"binary_data_size": a.nbytes}} for n, a in arrays.items()]
    header = json.dumps({"inputs": inputs, **extra}).encode()
    return header + b"".join(a.tobytes() for a in arrays.values()), str(len(header))


def test_json_and_binary_inputs_parse_to_the_same_arrays() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.array([[1, 2]], dtype=np.int64)
    body, length = _binary_request({"x": x, "y": y}, id="r1",
                                   parameters={"timeout": 2_000_000})
    parsed = parse_infer_request(body, length)
    assert parsed.id == "r1" and parsed.timeout_s == 2.0
    np.testing.assert_array_equal(parsed.inputs["x"], x)
    np.testing.assert_array_equal(parsed.inputs["y"], y)
    as_json = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                           "data": [[0, 1, 2], [3, 4, 5]]}],
               "outputs": [{"name": "o", "parameters": {"binary_data": True,
                                                        "classification": 3}}]}
    parsed = parse_infer_request(json.dumps(as_json).encode(), None)
    assert parsed.inputs["x"].dtype == np.float32
    np.testing.assert_array_equal(parsed.inputs["x"], x)
    assert parsed.outputs is not None and parsed.outputs[0].binary
    assert parsed.outputs[0].classification == 3


@pytest.mark.parametrize("body, message", [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"inputs": []}', "non-empty 'inputs'"),
    (b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', "no string 'name'"),
    (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FLOAT", "data": [1]}]}',
     "unsupported datatype 'FLOAT'"),
    (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]}',
     "needs 2 values, 'data' has 1"),
    (b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}',
     "non-negative integers"),
    (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": ["a"]}]}',
     "is not a list of INT8 values"),
    (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}', "neither 'data'"),
    (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, '
     b'{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', "given twice"),
])
def test_bad_json_requests_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        parse_infer_request(body, None)
    assert info.value.status == 400


def test_bad_binary_requests_name_the_problem() -> None:
    x = np.zeros((2, 2), np.float32)
    body, length = _binary_request({"x": x})
    with pytest.raises(ProtocolError, match="does not fit"):
        parse_infer_request(body[:-1], length)
    with pytest.raises(ProtocolError, match="4 binary bytes follow"):
        parse_infer_request(body + b"\0" * 4, length)
    with pytest.raises(ProtocolError, match="must be an integer"):
        parse_infer_request(body, "twelve")
    with pytest.raises(ProtocolError, match="but the body has"):
        parse_infer_request(body, str(len(body) + 1))
    header = json.loads(body[:int(length)])
    header["inputs"][0]["shape"] = [3, 2]
    text = json.dumps(header).encode()
    with pytest.raises(ProtocolError, match="is 24 bytes, binary_data_size says 16"):
        parse_infer_request(text + b"\0" * 16, str(len(text)))


def test_responses_in_json_and_binary() -> None:
    probs = np.array([[0.1, 0.7, 0.2]], np.float32)
    body, headers = encode_infer_response("m", "1", "r", [("probs", probs, False)])
    assert headers == {"Content-Type": "application/json"}
    document = json.loads(body)
    assert document["id"] == "r" and document["outputs"][0] == {
        "name": "probs", "shape": [1, 3], "datatype": "FP32",
        "data": probs.ravel().tolist()}
    labels = ["a", "b", "c"]
    classes = classify(probs, 2, labels)
    body, headers = encode_infer_response("m", "1", None, [("probs", probs, True),
                                                           ("top", classes, True)])
    length = int(headers[HEADER_LENGTH])
    document = json.loads(body[:length])
    assert document["outputs"][1]["datatype"] == "BYTES"
    blob = body[length:]
    np.testing.assert_array_equal(np.frombuffer(blob[:12], np.float32).reshape(1, 3), probs)
    first = struct.unpack("<I", blob[12:16])[0]
    assert blob[16:16 + first].decode() == f"{0.7:f}:1:b"
    assert [c["index"] for c in top_k(probs[0], 3, labels)] == [1, 2, 0]


def test_datatype_names() -> None:
    assert datatype_of(np.dtype(np.uint8)) == "UINT8" and dtype_of("FP16") == np.float16
    with pytest.raises(ValueError, match="complex64"):
        datatype_of(np.dtype(np.complex64))
