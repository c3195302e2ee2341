"""The requantizing ``QRELU`` of the int8 ONNX lowering, in forms checked on every code.

A ``QRELU`` between two ``QuantizedS8`` scales (a conv's output requantized into a
relu6's range, as mge's MobileNetV2 PTQ dumps it) maps 256 input codes to output codes:
MegEngine's table :func:`megengine_table` (dequantize, relu, times the float32 reciprocal
of the output scale, round half away from zero, saturate). onnxruntime gets one of:

* ``"add"``: the input carried as uint8 at zero point 0, already relu'd by its producing
  ``QLinearConv`` saturating there (codes above 127 stand for 127: MegEngine's conv would
  have saturated them), requantized by ``QLinearAdd`` of a zero (one vectorized pass; the
  output's own uint8 saturation at ``127 + 128`` is MegEngine's at 127);
* ``"table"``: ``QLinearLeakyRelu`` at ``alpha=0`` on the usual ``q + 128`` codes
  (onnxruntime's scalar 256-entry table of its own DequantizeLinear -> QuantizeLinear);
* ``"gather"``: MegEngine's own table, ``Cast`` to int32 and ``Gather`` (exact by
  construction, two passes).

A form is used only where onnxruntime, run on every input code (in vector lanes and
tails), gives MegEngine's table bit for bit (:func:`exact`): onnxruntime rounds ties to
even and computes the ratio its own way, so this is checked per scale pair, not assumed.
onnxruntime's codes per scale pair are kept across processes by :mod:`.int8_checks_disk`.

Example:
    >>> spec = requant_relu_spec("add", sx, sy)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..dtype import get_scale
from ..ops.quantized import ElemwiseMultiType
from ..ops.quantized.numpy_kernels import multi_type
from . import int8_checks_disk

#: int8 activations travel as uint8 codes ``q + SHIFT`` (zero point 128)
SHIFT = 128
#: the forms, fastest first
FORMS = ("add", "table", "gather")
#: the offset of the input codes each form reads (``"add"``: relu'd, zero point 0)
INPUT_OFFSET = {"add": 0, "table": SHIFT, "gather": SHIFT}


def megengine_table(op: ElemwiseMultiType, x_dtype: np.dtype) -> np.ndarray:
    """MegEngine's output code (int16) for each int8 input code -128..127 of ``op``."""
    codes = np.arange(-128, 128).astype(x_dtype)
    return np.asarray(multi_type(op, [x_dtype], codes)).astype(np.int16)


def expected_codes(form: str, table: np.ndarray) -> np.ndarray:
    """The uint8 output codes (``q + SHIFT``) ``form`` must give for the uint8 inputs
    0..255 it reads."""
    c = np.arange(256)
    q = c - INPUT_OFFSET[form]
    if form == "add":  # relu'd, zero point 0; above 127: MegEngine's conv saturated there
        q = np.minimum(q, 127)
    return (table[q + 128] + SHIFT).astype(np.uint8)


def requant_relu_spec(form: str, sx: float, sy: float
                      ) -> tuple[str, list[np.ndarray], str, dict[str, Any]]:
    """``(op, consts, domain, attrs)`` of the one-node forms ``"add"`` and ``"table"``: the
    ONNX op, its inputs after ``x`` as constants, its domain and attributes."""
    f32 = functools.partial(np.array, dtype=np.float32)
    u8 = functools.partial(np.array, dtype=np.uint8)
    if form == "add":
        consts = [f32(sx), u8(0), u8(0), f32(1.0), u8(0), f32(sy), u8(SHIFT)]
        return "QLinearAdd", consts, "com.microsoft", {}
    if form == "table":
        consts = [f32(sx), u8(SHIFT), f32(sy), u8(SHIFT)]
        return "QLinearLeakyRelu", consts, "com.microsoft", {"alpha": 0.0}
    raise ValueError(f"requantizing QRELU: no one-node form {form!r} (have add, table)")


#: onnxruntime's output codes per ``(form, sx, sy)``, for every uint8 input code
_CODES: dict[tuple[str, float, float], np.ndarray] = {}


def _key(form: str, sx: float, sy: float) -> tuple[str, float, float]:
    return form, float(np.float32(sx)), float(np.float32(sy))


def prefetch(cases: list[tuple[str, float, float]]) -> None:
    """Run the one-node ``(form, sx, sy)`` cases not yet known on every uint8 code, all in
    one onnxruntime session (laid out forwards, backwards and in a short tail: vector
    lanes and tails alike; a case whose layouts disagree never matches)."""
    todo = sorted({_key(*c) for c in cases if c[0] != "gather"} - _CODES.keys())
    _CODES.update(int8_checks_disk.load(todo))  # earlier processes' runs of the same cases
    todo = [c for c in todo if c not in _CODES]
    if not todo:
        return
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    codes = np.arange(256, dtype=np.uint8)
    x = np.concatenate([codes, codes[::-1], codes[:37]])
    nodes, inits, outputs = [], [], []
    for k, (form, sx, sy) in enumerate(todo):
        op, consts, domain, attrs = requant_relu_spec(form, sx, sy)
        names = [f"c{k}_{j}" for j in range(len(consts))]
        inits += [numpy_helper.from_array(v, n) for n, v in zip(names, consts, strict=True)]
        nodes.append(helper.make_node(op, ["x", *names], [f"y{k}"], domain=domain, **attrs))
        outputs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.UINT8, [x.size]))
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    graph = helper.make_graph(nodes, "requant_relu_forms", [helper.make_tensor_value_info(
        "x", TensorProto.UINT8, [x.size])], outputs, inits)
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets[:1])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    for key, y in zip(todo, session.run(None, {"x": x}), strict=True):
        same = np.array_equal(y[:256], y[256:512][::-1]) and np.array_equal(y[:37], y[512:])
        _CODES[key] = y[:256].astype(np.int16) if same else np.full(256, -1, np.int16)
    int8_checks_disk.store({key: _CODES[key] for key in todo})


def exact(form: str, sx: float, sy: float, table: np.ndarray) -> bool:
    """Whether onnxruntime's ``form`` gives MegEngine's ``table`` on every input code."""
    if form == "gather":
        return True
    prefetch([(form, sx, sy)])
    return bool(np.array_equal(_CODES[_key(form, sx, sy)], expected_codes(form, table)))


def pick_form(op: ElemwiseMultiType, x_dtype: np.dtype, y_dtype: np.dtype,
              allowed: tuple[str, ...] = FORMS) -> tuple[str, np.ndarray]:
    """The fastest of ``allowed`` forms exact for this ``QRELU``, and MegEngine's table."""
    table = megengine_table(op, x_dtype)
    sx, sy = get_scale(x_dtype), get_scale(y_dtype)
    for form in allowed:
        if exact(form, sx, sy, table):
            return form, table
    return "gather", table


__all__ = ["FORMS", "INPUT_OFFSET", "SHIFT", "expected_codes", "exact", "megengine_table",
           "pick_form", "prefetch", "requant_relu_spec"]
