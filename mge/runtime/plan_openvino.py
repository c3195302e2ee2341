"""The ``openvino`` plan backend: a whole graph as one OpenVINO compiled model (CPU).

The plan's graph is exported to ONNX in memory (:mod:`.plan_onnx`), read by OpenVINO's
ONNX frontend and compiled for its CPU plugin once per plan (a new input shape makes a
new plan, so a new compiled model). The plan options map to OpenVINO properties:

* ``threads`` -> ``INFERENCE_NUM_THREADS`` (``None``: OpenVINO's default), one stream,
  the latency performance hint;
* the graph's arithmetic is kept: OpenVINO's common transformations replace
  ``Clip(x + 3, 0, 6) * c`` by its exact HSigmoid (``/ 6``) whenever ``c`` is within 1e-4
  of 1/6, and models converted from TFLite write ``c = 0.16667`` (2e-5 above 1/6: on
  MobileNetV3-Small that made OpenVINO's float32 output depart 1.0e-4 from the graph's,
  12-55x more than the other plan backends); :func:`keep_hard_sigmoid_scale` rewrites
  those into ``Clip(x * c + 3c, 0, 6c)``, which it leaves alone;
* ``compute_dtype`` -> ``INFERENCE_PRECISION_HINT``: ``None``/``"float32"`` -> ``f32``,
  ``"bfloat16"`` -> ``bf16``, ``"float16"`` -> ``f16``, each available only where the
  CPU plugin reports the capability (``OPTIMIZATION_CAPABILITIES``). Inputs and outputs
  keep the graph's types; OpenVINO converts at the edges.

OpenVINO is an optional dependency (``pip install "mge[openvino]"``), and the backend is
opt-in: used only when named (``PlanOptions(backend="openvino")``,
``LiteConfig.plan_backend = "openvino"``) or chosen by fast-run, which times it and checks
its float32 per model, never by ``"auto"`` without a fast-run choice. Measured for that
rule (bench/lite.py's six models, batch 1 and 8, 1 and 2 threads, a loaded 2-core AMD
EPYC): its float32 passed fast-run's gate on every model and mge.lite on it used less
CPU than on onnxruntime in most cases (0.84-0.98x at 1 thread; 0.57-0.93x at 2, where
onnxruntime's pool spins), but more on the smallest (MobileNetV1-0.25: batch 1 1.27x at
1 thread and 2.2x at 2, batch 8 1.14x at 2), and on a busy machine its latency on
MobileNetV3-Small batch 1 was 2-3x its CPU time where onnxruntime's stayed at 1x: too
much slower on small models to be the default.

Example:
    >>> plan = Plan(graph, PlanOptions(backend="openvino", threads=2,
    ...                                compute_dtype="bfloat16"))  # doctest: +SKIP
    >>> plan.run(data=x)                                           # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import openvino
from onnx import TensorProto, numpy_helper

from ..graph.ir import Graph
from .openvino_binding import Binding, binds_in_place
from .plan import PlanOptions, register_plan_backend
from .plan_onnx import GraphRunner, OnnxGraphBackend, c_contiguous

#: the op names this module's strings speak: ONNX's (the op set OpenVINO compiles), not
#: mge's registered op types (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"

#: compute dtype -> (OpenVINO inference precision, the CPU capability it needs)
PRECISIONS = {None: ("f32", "FP32"), "float32": ("f32", "FP32"),
              "bfloat16": ("bf16", "BF16"), "float16": ("f16", "FP16")}


#: the ONNX ops handed to OpenVINO: those of convolutional networks. Other graphs (e.g.
#: WarpPerspective's lowering to GatherND/Where/Mod/IsNaN, on which OpenVINO 2026.4's
#: CPU compile never returned) run op by op on another plan backend.
COMPILED_OPS = frozenset({
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv",
    "ConvTranspose", "Div", "Erf", "Exp", "Flatten", "Gather", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "MatMul", "Max",
    "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow", "PRelu", "ReduceMax", "ReduceMean",
    "ReduceSum", "Relu", "Reshape", "Resize", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt",
    "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze"})


@functools.cache
def core() -> Any:
    """The process's ``openvino.Core`` (made once: creating one loads the plugins)."""
    return openvino.Core()


@functools.cache
def cpu_capabilities() -> frozenset[str]:
    """The CPU plugin's ``OPTIMIZATION_CAPABILITIES`` (``FP32``, ``BF16``, ``FP16``...)."""
    return frozenset(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


#: byte alignment of each weight in the weights file
_ALIGN = 64


def read_with_weights(model: Any, weights: dict[str, np.ndarray]) -> Any:
    """OpenVINO's model of ``model``, an ONNX model whose initializers named in
    ``weights`` are declared external: the arrays are written to one file (aligned, in
    a temporary folder, in memory where ``/dev/shm`` exists), the declarations point
    into it, and OpenVINO reads (maps) the file; the folder is removed afterwards.
    """
    if not weights:
        return core().read_model(model.SerializeToString(), b"")
    shm = "/dev/shm"
    with tempfile.TemporaryDirectory(prefix="mge-openvino-",
                                     dir=shm if os.access(shm, os.W_OK) else None) as folder:
        offsets: dict[str, int] = {}
        with open(os.path.join(folder, "weights.bin"), "wb") as f:
            for name, array in weights.items():
                f.write(b"\0" * (-f.tell() % _ALIGN))
                offsets[name] = f.tell()
                f.write(memoryview(np.ascontiguousarray(array)).cast("B"))
        for init in model.graph.initializer:
            for entry in init.external_data if init.name in offsets else ():
                if entry.key == "location":
                    entry.value = "weights.bin"
                elif entry.key == "offset":
                    entry.value = str(offsets[init.name])
        path = os.path.join(folder, "model.onnx")
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        return core().read_model(path)


#: the float32 1/6 OpenVINO's HSigmoid computes with, and how near a scale it would take
_SIXTH, _NEAR_SIXTH = float(np.float32(1 / 6)), 1e-3


def keep_hard_sigmoid_scale(model: Any) -> int:
    """Rewrite, in the ONNX ``model``, each ``Mul(Clip(Add(x, 3), 0, 6), c)`` (either
    operand order; Add and Clip read by nothing else) whose scalar ``c`` is near 1/6 but
    not float32's 1/6 as ``Clip(Add(Mul(x, c), 3c), 0, 6c)``: the same function of ``x``
    (up to float32 rounding) that OpenVINO's HSigmoid fusion does not match, so that the
    compiled model multiplies by ``c`` as the graph says. Returns the rewrites made."""
    graph = model.graph
    scalars = {i.name: float(numpy_helper.to_array(i).reshape(-1)[0])
               for i in graph.initializer if i.data_type == TensorProto.FLOAT
               and not i.external_data and int(np.prod(i.dims)) == 1}
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, int] = {o.name: 1 for o in graph.output}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1

    def only(name: str, op_type: str) -> Any:
        node = producer.get(name)
        ok = node is not None and node.op_type == op_type and readers.get(name) == 1
        return node if ok else None

    done = 0
    for mul in graph.node:
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        k = next((k for k in (0, 1) if abs(scalars.get(mul.input[k], 0.0) - 1 / 6)
                  < _NEAR_SIXTH), None)
        clip = None if k is None else only(mul.input[1 - k], "Clip")
        if clip is None or scalars[mul.input[k]] == _SIXTH or len(clip.input) != 3 \
                or scalars.get(clip.input[1]) != 0.0 or scalars.get(clip.input[2]) != 6.0:
            continue
        add = only(clip.input[0], "Add")
        three = None if add is None else next(
            (j for j in (0, 1) if scalars.get(add.input[j]) == 3.0), None)
        if three is None:
            continue
        c, stem = scalars[mul.input[k]], mul.output[0]
        for suffix, value, shape in (("c", c, (1,)), ("3c", 3 * c, (1,)), ("6c", 6 * c, ())):
            graph.initializer.append(numpy_helper.from_array(
                np.full(shape, value, np.float32), f"{stem}/{suffix}"))
        x, zero = add.input[1 - three], clip.input[1]
        for node, op_type, inputs in ((add, "Mul", [x, f"{stem}/c"]),
                                      (clip, "Add", [add.output[0], f"{stem}/3c"]),
                                      (mul, "Clip", [clip.output[0], zero, f"{stem}/6c"])):
            node.op_type = op_type
            del node.attribute[:]
            node.input[:] = inputs
        done += 1
    return done


def compile_properties(options: PlanOptions) -> dict[str, Any]:
    """The CPU plugin properties for a plan: threads, one stream, latency, precision."""
    props: dict[str, Any] = {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                             "INFERENCE_PRECISION_HINT": PRECISIONS[options.compute_dtype][0]}
    if options.threads:
        props["INFERENCE_NUM_THREADS"] = options.threads
    return props


@register_plan_backend
class OpenVinoPlanBackend(OnnxGraphBackend):
    """One OpenVINO CPU compiled model per plan."""

    name = "openvino"
    priority = 15
    #: opt-in for now: its common transformations may replace other near-constant
    #: patterns than the hard sigmoid's (:func:`keep_hard_sigmoid_scale`; fast-run checks
    #: its float32 per model) and it does not carry NaN/inf through Softmax/BatchNorm as
    #: the other backends do
    opt_in = True
    devices = ("cpu",)

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        reason = super().unavailable(options)
        if reason is not None:
            return reason
        if options.compute_dtype not in PRECISIONS:
            return (f"plan backend 'openvino' computes in float32, bfloat16 or float16, "
                    f"not {options.compute_dtype}")
        precision, capability = PRECISIONS[options.compute_dtype]
        if capability not in cpu_capabilities():
            return (f"plan backend 'openvino': this CPU has no {precision} inference "
                    f"(capabilities {sorted(cpu_capabilities())})")
        return None

    def export_dtype(self) -> str | None:
        return None  # exported in float32: the precision hint lowers it inside OpenVINO

    def external_weights(self) -> dict[str, np.ndarray]:
        """The weights are exported as arrays and reach OpenVINO through a weights file
        (:func:`read_with_weights`): embedding them in the model bytes and parsing them
        again took about three quarters of a plan's load time."""
        self.weight_arrays: dict[str, np.ndarray] = {}
        return self.weight_arrays

    def compile_model(self, model: Any, graph: Graph) -> GraphRunner | None:
        """Read the ONNX model with OpenVINO's frontend and compile it for the CPU."""
        others = sorted({n.op_type for n in model.graph.node} - COMPILED_OPS)
        if others:
            self._fall_back(f"does not compile ONNX ops {others}")
            return None
        keep_hard_sigmoid_scale(model)
        network = read_with_weights(model, self.weight_arrays or {})
        return compiled_runner(network, self.options, len(graph.outputs))


def compiled_runner(network: Any, options: PlanOptions, nr_outputs: int) -> GraphRunner:
    """``network`` (outputs ``out0``, ``out1`` ...) compiled for the CPU with ``options``,
    as a runner of one infer request (``runner.compiled``: the compiled model;
    ``runner.io_binding(buffers)``: a :class:`~.openvino_binding.Binding` of another
    request, for ``Plan.io_binding``)."""
    compiled = core().compile_model(network, "CPU", compile_properties(options))
    request = compiled.create_infer_request()
    outputs = [compiled.output(f"out{k}") for k in range(nr_outputs)]

    def run(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        # the results are copies the request no longer uses (share_outputs=False)
        results = request.infer({k: c_contiguous(x) for k, x in enumerate(feeds)},
                                share_inputs=True)
        return [results[out] for out in outputs]

    run.compiled = compiled  # type: ignore[attr-defined]
    names = [f"in{k}" for k in range(len(compiled.inputs))]  # Plan.unchecked's keys
    run.io_binding = lambda buffers: Binding(compiled, names, buffers) \
        if binds_in_place() else None  # type: ignore[attr-defined]  (Plan.io_binding)
    return run


__all__ = ["COMPILED_OPS", "PRECISIONS", "OpenVinoPlanBackend", "compile_properties",
           "compiled_runner", "core", "cpu_capabilities", "keep_hard_sigmoid_scale",
           "read_with_weights"]
