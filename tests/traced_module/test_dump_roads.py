"""The docs' two roads to a .mge file give the same bytes, and the dump runs in mge.lite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mge
import mge.random
import mge.traced_module as tm
from mge import jit
from mge.lite import LiteNetwork
from mge.models import shufflenet_v2_x1_0


def _dump(net: object, data: mge.Tensor, path: Path, symbolic_shape: bool = True) -> bytes:
    @jit.trace(symbolic=True, capture_as_const=True, symbolic_shape=symbolic_shape)
    def fun(data, *, net):  # noqa: ANN001, ANN202
        return net(data)

    fun(data, net=net)
    fun.dump(str(path), arg_names=["data"], optimize_for_inference=True,
             enable_fuse_conv_bias_nonlinearity=True)
    return path.read_bytes()


def test_trace_module_road_and_direct_road_give_the_same_file(tmp_path: Path) -> None:
    mge.random.seed(0)
    net = shufflenet_v2_x1_0(input_size=64)
    net.eval()
    data = mge.tensor(np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype("f4"))
    traced = tm.trace_module(net, data)
    via_tm = _dump(traced, data, tmp_path / "via_tm.mge")
    # mge's trace_module records the shapes it read as constants (MegEngine's reads them
    # symbolically), so the file equals the direct road's with symbolic shapes off
    direct = _dump(net, data, tmp_path / "direct.mge", symbolic_shape=False)
    assert via_tm == direct
    assert _dump(net, data, tmp_path / "direct_symbolic.mge") != direct  # GetVarShape

    optimized = tm.optimize(traced, enabled_pass=["FuseConvBn", "FuseAddMul",
                                                  "BackwardFoldScale"])
    _dump(optimized, data, tmp_path / "optimized.mge")
    network = LiteNetwork()
    network.load(str(tmp_path / "optimized.mge"))
    network.get_io_tensor("data").set_data_by_copy(data.numpy())
    network.forward()
    network.wait()
    out = network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()
    np.testing.assert_allclose(out, net(data).numpy(), atol=1e-4)
