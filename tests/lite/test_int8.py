"""int8 execution: MegEngine's quantized dumps run in mge.lite with MegEngine's integers.

The committed ``int8_cnn`` dump (``tools/oracle/make_int8.py``) and, with the oracle,
a freshly dumped int8 ResNet-18 must give exactly what real MegEngine Lite computes at
every block output (the requantization rounding included).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mge.runtime.plan import available_plan_backends
from tests.lite.runs import run_lite
from tests.oracle import REPO, oracle_python, requires_oracle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"


def assert_same_as_megengine(path: Path, golden: Path) -> None:
    ref = np.load(golden)
    outs = run_lite(path, ref["input"])
    assert len(outs) == len([k for k in ref.files if k.startswith("lite/")])
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(out, ref[f"lite/{k}"], err_msg=f"output {k}")


def test_megengine_int8_cnn_is_bit_exact() -> None:
    assert_same_as_megengine(FIXTURES / "int8_cnn.mge", FIXTURES / "int8_cnn.npz")


def test_int8_graph_keeps_quantized_dtypes() -> None:
    from mge.serialization.mge_graph import load_graph

    graph = load_graph(FIXTURES / "int8_cnn.mge").graph
    types = {n.op.type_name for n in graph.ops()}
    assert {"ConvBiasForward", "ElemwiseMultiType", "MatrixMul", "TypeCvt"} <= types
    conv = next(n for n in graph.ops() if n.op.type_name == "ConvBiasForward")
    assert conv.op.dtype.startswith("QuantizedS8(scale=")
    assert conv.outputs[0].dtype.metadata["mgb_dtype"]["name"] == "QuantizedS8"


@pytest.mark.parametrize("backend", [b for b in ("torch", "onnxruntime")
                                     if b in available_plan_backends()])
def test_float_plan_backend_refuses_int8_graph(backend: str) -> None:
    x = np.load(FIXTURES / "int8_cnn.npz")["input"]
    with pytest.raises(RuntimeError, match="does not run quantized graphs"):
        run_lite(FIXTURES / "int8_cnn.mge", x, backend=backend)


@requires_oracle
@pytest.mark.slow
def test_megengine_int8_resnet18_is_bit_exact(tmp_path: Path) -> None:
    subprocess.run(
        [oracle_python(), str(REPO / "tools" / "oracle" / "make_int8.py"), "--out",
         str(tmp_path), "--model", "resnet18"],
        check=True, capture_output=True, timeout=600,
        env={"MEGENGINE_INTERP_ASYNC_LEVEL": "0", "PATH": "/usr/bin:/bin"},
    )
    assert_same_as_megengine(tmp_path / "int8_resnet18.mge", tmp_path / "int8_resnet18.npz")


@requires_oracle
def test_mge_ptq_dump_runs_bit_exact_in_megengine(tmp_path: Path) -> None:
    import mge
    from mge.jit import trace
    from tests.oracle import run_in_megengine
    from tests.quantization.conv_bn_relu_net import quantized_conv_bn_relu_net

    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    net = quantized_conv_bn_relu_net(x)

    @trace(symbolic=True, capture_as_const=True)
    def fn(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    ours = fn(mge.tensor(x)).numpy()
    fn.dump(str(tmp_path / "ptq.mge"), arg_names=["data"])
    (theirs,) = run_in_megengine(tmp_path / "ptq.mge", {"data": x}).values()
    np.testing.assert_array_equal(theirs, ours)
