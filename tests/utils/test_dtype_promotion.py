"""MegBrain's Elemwise dtype promotion in ``Network`` edits (``mge.utils.dtype_promotion``)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
from mge.dtype import qint8, qint32
from mge.jit import trace
from mge.utils.comp_graph_tools import GraphInference
from mge.utils.dtype_promotion import promote
from mge.utils.network import Network

I32, F32, F16 = np.dtype("int32"), np.dtype("float32"), np.dtype("float16")


@pytest.mark.parametrize(("a", "b", "want"), [
    (I32, F32, F32), (F16, F16, F16), (F16, np.dtype("int8"), F32),
    (np.dtype("int8"), I32, I32), (np.dtype("bool"), I32, F32), (F16, F32, F32),
    (qint8(0.5), F32, qint8(0.5)),
])
def test_promote_as_megbrain(a: np.dtype, b: np.dtype, want: np.dtype) -> None:
    assert promote(a, b) == want and promote(b, a) == want


@pytest.mark.parametrize(("a", "b"), [(np.dtype("uint8"), np.dtype("int8")),
                                      (qint8(0.5), qint8(0.25)), (qint8(0.5), qint32(0.5))])
def test_no_promotion_raises(a: np.dtype, b: np.dtype) -> None:
    with pytest.raises(TypeError, match="no dtype promotion"):
        promote(a, b)


def test_int_input_replaced_by_float_const_runs_in_float32() -> None:
    """MegEngine's test_make_const: the edited graph computes in float32 ([2., 4.]);
    mge refused it ("inputs must share one dtype")."""
    @trace(symbolic=True, capture_as_const=True)
    def fwd(a, b):  # noqa: ANN001, ANN202
        return (a + b) * 2

    fwd(mge.tensor([1, 2]), mge.tensor([3, 4]))
    orig = io.BytesIO()
    fwd.dump(orig, arg_names=["a", "b"], output_names="o", optimize_for_inference=False)
    orig.seek(0)
    net = Network.load(orig)
    const_b = net.make_const(np.array([0.0, 0.0]), name="b")
    net.replace_vars({net.var_filter.name("b").as_unique(): const_b})
    out = io.BytesIO()
    net.dump(out)
    out.seek(0)
    got = GraphInference(out).run(np.array([1, 2], np.int32))["o"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [2.0, 4.0])
