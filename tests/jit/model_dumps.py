"""Shared by the model round-trip tests: reduced models, dump options, trace and dump."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

import mge
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from mge.models import mobilenet_v2, resnet18, shufflenet_v2_x0_5

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


def _randomize_bn(net: Any, rng: np.random.Generator) -> None:
    """Non-trivial BatchNorm statistics, so that folding them is really tested."""
    for _, m in net.named_modules():
        if type(m).__name__ == "BatchNorm2d":
            shape = m.running_mean.shape
            m.running_mean.set_value(rng.normal(0, 0.1, shape).astype(np.float32))
            m.running_var.set_value(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            m.weight.set_value(rng.uniform(0.5, 1.5, m.weight.shape).astype(np.float32))
            m.bias.set_value(rng.normal(0, 0.1, m.bias.shape).astype(np.float32))


def make_traced(name: str) -> tuple[str, trace, np.ndarray, np.ndarray]:
    """(name, traced function, input, eager output) for model ``name`` in eval mode."""
    rng = np.random.default_rng(0)
    mge.random.seed(0)  # the same weights in every run (the float16 error depends on them)
    net = MODELS[name]()
    _randomize_bn(net, rng)
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def fun(data, *, net):  # noqa: ANN001, ANN202
        return net(data)

    x = rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    expect = fun(mge.tensor(x), net=net).numpy()
    return name, fun, x, expect


def dump_and_load(fun: trace, options: dict) -> tuple[bytes, Any]:
    """Dump ``fun`` (input named ``data``) with ``options``; the bytes and the load result."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fun.dump(buf, arg_names=["data"], **options)
    return buf.getvalue(), G.load_graph(io.BytesIO(buf.getvalue()))
