"""Unnamed constants in a dump are named as MegBrain names an ``ImmutableTensor``
(``const<2>[4]``: the value or the shape, then the node id). The expected names are what
real MegEngine 1.13 writes for the same functions (read back with ``load_graph``)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from mge.jit.naming import const_summary
from mge.utils.comp_graph_tools import get_oprs_seq


def _const_names(fn, *args, keep_var_name: int = 1) -> list[str]:
    fn(*args)
    file = io.BytesIO()
    fn.dump(file, arg_names=[f"a{i}" for i in range(len(args))], keep_var_name=keep_var_name,
            optimize_for_inference=False)
    file.seek(0)
    outputs = G.load_graph(file).output_vars_list
    return [v.name for o in get_oprs_seq(outputs, prune_immtensor=False)
            for v in o.outputs if o.type == "ImmutableTensor"]


@pytest.mark.parametrize("keep_var_name", [1, 2])
def test_scalars_and_arrays_numbered_after_the_inputs(keep_var_name: int) -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        z = F.concat([x * 2 + 3, mge.tensor([1.0, 2.0, 3.0, 4.0])])
        return z * mge.tensor(np.arange(8, dtype="float32")) - 1.5

    names = _const_names(f, mge.tensor(np.ones(4, "float32")), keep_var_name=keep_var_name)
    assert names == ["const<2>[2]", "const<3>[4]", "const{4}[6]", "const{8}[8]",
                     "const<1.5>[10]"]


def test_a_folded_constant_takes_the_id_after_its_op() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x, y):
        return (x + mge.tensor(2.0) * 3) * y + 0.5

    ones = mge.tensor(np.ones(3, "float32"))
    assert _const_names(f, ones, ones) == ["const<6>[12]", "const<0.5>[8]"]


def test_named_constants_keep_their_names_and_count() -> None:
    w = mge.tensor(np.ones(3, "float32"))
    w.name = "w"

    @trace(symbolic=True, capture_as_const=True)
    def f(x, y):
        return (x.reshape(3, 1) + y) * w + 1000000.0

    names = _const_names(f, mge.tensor(np.ones(3, "float32")),
                         mge.tensor(np.ones((3, 3), "float32")))
    # MegEngine: x(0), y(2), the reshape target const{2}[4], w [6], 1e6 [8]
    assert names == ["w", "const<1e+06>[8]"]


def test_summary_formats_as_megbrain() -> None:
    assert const_summary(np.float32(0.12345)) == "const<0.123>"
    assert const_summary(np.array([[7.0]], "float32")) == "const<7>{1,1}"
    assert const_summary(np.array([-1], "int32")) == "const<-1>"
    assert const_summary(np.ones((2, 3), "float32")) == "const{2,3}"
