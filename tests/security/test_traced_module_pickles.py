"""Every TracedModule mge traces (small nets, the model zoo, after tm.optimize) loads
under mge.load's default and computes what it did before pickling."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest

import mge
import mge.module as M
import mge.traced_module as tm
from mge.models import mobilenet_v2, resnet18, shufflenet_v2_x1_0
from tests.traced_module.nets import ConvBnNet, Net


def _image() -> mge.Tensor:
    return mge.tensor(np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype("f4"))


CASES: dict[str, tuple[Callable[[], M.Module], Callable[[], mge.Tensor]]] = {
    "Net": (Net, lambda: mge.tensor(np.ones((2, 3), "float32"))),
    "ConvBnNet": (ConvBnNet, lambda: _image()),
    "resnet18": (lambda: resnet18(input_size=64), _image),
    "shufflenet_v2": (lambda: shufflenet_v2_x1_0(input_size=64), _image),
    "mobilenet_v2": (lambda: mobilenet_v2(input_size=64), _image),
}


@pytest.mark.parametrize(("name", "optimized"), [
    *((name, False) for name in sorted(CASES)), ("ConvBnNet", True), ("resnet18", True)])
def test_loads_by_default(name: str, optimized: bool) -> None:
    make, data = CASES[name]
    net = make()
    net.eval()
    x = data()
    traced = tm.trace_module(net, x)
    if optimized:
        traced = tm.optimize(traced, ["FuseConvBn"])
    buf = io.BytesIO()
    mge.save(traced, buf)
    buf.seek(0)
    back = mge.load(buf)
    got, want = back(x), traced(x)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
