"""ResNet-18, ShuffleNetV2 and MobileNetV2 dumped with each option set load back in mge
and reproduce the eager outputs (1e-4; float16 options within 1e-2 of the output scale)."""

from __future__ import annotations

import io
import warnings
from collections import Counter

import numpy as np
import pytest

import mge
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from mge.models import mobilenet_v2, resnet18, shufflenet_v2_x0_5
from mge.runtime.executor import Executor

SIZE = 32
MODELS = {
    "resnet18": lambda: resnet18(input_size=SIZE),
    "shufflenet_v2": lambda: shufflenet_v2_x0_5(input_size=SIZE),
    "mobilenet_v2": lambda: mobilenet_v2(width_mult=0.25, input_size=SIZE),
}
OPTIONS = {
    "plain": {"optimize_for_inference": False},
    "default": {},
    "fuse_nonlinearity": {"enable_fuse_conv_bias_nonlinearity": True},
    "fuse_z": {"enable_fuse_conv_bias_with_z": True},
    "io16xc32": {"enable_io16xc32": True},
    "ioc16": {"enable_ioc16": True},
    "nchw44": {"enable_nchw44": True},
}


def _randomize_bn(net, rng: np.random.Generator) -> None:  # noqa: ANN001
    """Non-trivial BatchNorm statistics, so that folding them is really tested."""
    for _, m in net.named_modules():
        if type(m).__name__ == "BatchNorm2d":
            shape = m.running_mean.shape
            m.running_mean.set_value(rng.normal(0, 0.1, shape).astype(np.float32))
            m.running_var.set_value(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            m.weight.set_value(rng.uniform(0.5, 1.5, m.weight.shape).astype(np.float32))
            m.bias.set_value(rng.normal(0, 0.1, m.bias.shape).astype(np.float32))


@pytest.fixture(scope="module", params=list(MODELS))
def traced(request):  # noqa: ANN001, ANN201
    rng = np.random.default_rng(0)
    net = MODELS[request.param]()
    _randomize_bn(net, rng)
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def fun(data, *, net):
        return net(data)

    x = rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    expect = fun(mge.tensor(x), net=net).numpy()
    return request.param, fun, x, expect


def dump_and_load(fun, options: dict):  # noqa: ANN001, ANN201
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fun.dump(buf, arg_names=["data"], **options)
    return buf.getvalue(), G.load_graph(io.BytesIO(buf.getvalue()))


def op_counts(graph) -> Counter:  # noqa: ANN001
    return Counter(n.type for n in graph.ops())


@pytest.mark.parametrize("option", list(OPTIONS))
def test_round_trip_reproduces_eager(traced, option: str) -> None:  # noqa: ANN001
    name, fun, x, expect = traced
    _, loaded = dump_and_load(fun, OPTIONS[option])
    loaded.graph.lint()
    (out,) = Executor(loaded.graph).run(data=x)
    assert out.dtype == np.float32 and out.shape == expect.shape
    tol = 1e-2 * max(1.0, float(np.abs(expect).max())) if "16" in option else 1e-4
    np.testing.assert_allclose(out, expect, atol=tol, rtol=0, err_msg=f"{name} {option}")
    counts = op_counts(loaded.graph)
    if option != "plain":
        assert "BatchNormForward" not in counts
    if option in ("fuse_nonlinearity", "nchw44", "fuse_z"):
        assert counts["ConvBiasForward"] > counts["ConvolutionForward"]
    if "16" in option:
        assert loaded.graph.inputs[0].dtype == np.float32
        assert loaded.output_vars_list[0].owner.type == "TypeCvt"
        assert loaded.output_vars_list[0].owner.inputs[0].dtype == np.float16
