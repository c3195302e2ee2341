"""``mge.core._imperative_rt.core2`` (MegEngine's ``megengine.core._imperative_rt.core2``
names) and ``mge.core.ops.builtin``."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import mge
from mge.core import get_option, set_option
from mge.core._imperative_rt.core2 import TensorWeakRef, apply
from mge.core.ops.builtin import Elemwise


def test_interpreter_options_keep_values_and_refuse_unknown_names() -> None:
    before = get_option("enable_drop")
    assert before == 0 and get_option("dtr_evictee_minimum_size") == 1048576
    set_option("enable_drop", 1)
    try:
        assert get_option("enable_drop") == 1
    finally:
        set_option("enable_drop", before)
    with pytest.raises(KeyError, match="unknown interpreter option 'no_such'"):
        set_option("no_such", 1)


def test_apply_builtin_op_and_weak_reference() -> None:
    x = mge.tensor(np.array([1.0, 2.0], np.float32))
    (y,) = apply(Elemwise(Elemwise.Mode.MUL), x, x)
    np.testing.assert_allclose(y.numpy(), [1.0, 4.0])
    ref = TensorWeakRef(y)
    assert ref() is y
    del y
    gc.collect()
    assert ref() is None
    with pytest.raises(TypeError, match="needs a Tensor"):
        TensorWeakRef(np.zeros(1))


def test_comp_node_is_a_checked_device_name():
    from mge.core._imperative_rt import CompNode

    assert str(CompNode("xpu2")) == "xpu2" and CompNode().logical_name == "xpux:0"
    assert mge.tensor([1.0], device=CompNode("cpu0")).device == CompNode("cpu0")
    with pytest.raises(ValueError, match="invalid device name"):
        CompNode("tpu")


def test_operator_node_config_holds_megengine_settings() -> None:
    from mge.core._imperative_rt import OperatorNodeConfig

    config = OperatorNodeConfig()
    assert (config.name, config.dtype, config.comp_node_arr) == (None, None, ())
    with pytest.raises(ValueError, match="invalid number of comp_node"):
        _ = config.comp_node
    config.comp_node_arr = ["cpu0", "cpu1"]
    with pytest.raises(ValueError, match="invalid number of comp_node"):
        _ = config.comp_node
    config.comp_node, config.name = "xpux", "op"
    assert (config.comp_node, config.comp_node_arr, config.name) == ("xpux", ("xpux",), "op")


def test_builtin_elemwise_multi_type_takes_megengine_arguments() -> None:
    """``ElemwiseMultiType(mode="qadd", dtype=qint32(2.0))`` as MegEngine code writes it."""
    from mge.core.ops.builtin import ElemwiseMultiType
    from mge.core.tensor import dtype

    op = ElemwiseMultiType(mode="qadd", dtype=dtype.qint32(2.0))
    assert (op.mode, op.dtype) == ("QADD", "QuantizedS32(scale=2.0)")
    assert op != ElemwiseMultiType(mode="qadd", dtype=dtype.qint32(4.0))
    x = mge.tensor(np.array([3, -5, 7], np.int8).astype(dtype.qint8(2.0)))
    y = mge.tensor(np.array([1, 2, -8], np.int8).astype(dtype.qint8(2.0)))
    (z,) = apply(op, x, y)
    assert dtype.get_scale(z.dtype) == 2.0
    np.testing.assert_array_equal(z.numpy(), [4, -3, -1])
