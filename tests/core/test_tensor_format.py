"""Tensor.format (MegEngine's layout tag), Tensor.name's default and Tensor(tensor) rules.

The format expectations are MegEngine 1.13's (checked with the oracle, auto format
conversion on, its default): the tag rides along ops that keep the NCHW layout and is
dropped by the others; values stay logical.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np
import pytest

import mge
import mge.functional as F
from mge import Tensor
from mge.utils.naming import AutoNaming


def _nhwc() -> Tensor:
    return mge.tensor(np.arange(24).reshape(1, 2, 3, 4), format="nhwc")


def test_format_tag_and_inheritance() -> None:
    x = _nhwc()
    assert x.format == "nhwc" and mge.tensor(1).format == "default"
    assert mge.tensor(x).format == "nhwc"
    x.format = "nchw"
    assert x.format == "nchw"
    with pytest.raises(ValueError, match="format must be one of"):
        x.format = "nc4hw4"


@pytest.mark.parametrize(("fn", "want"), [
    (lambda x: F.reshape(x, (1, 2, 6, 2)), "nhwc"),
    (lambda x: F.reshape(x, (1, 24)), "default"),
    (lambda x: F.transpose(x, [2, 3, 0, 1]), "default"),
    (lambda x: x * 2, "nhwc"),
    (lambda x: x + F.ones((1, 2, 3, 4)), "nhwc"),
    (lambda x: F.nn.pad(x, ((1, 1),)), "default"),
    (lambda x: x.astype("float32"), "nhwc"),
    (lambda x: F.max_pool2d(x.astype("float32"), 2), "nhwc"),
    (lambda x: x[:, :1], "nhwc"),
    (lambda x: x[0], "default"),
    (lambda x: F.sum(x), "default"),
    (lambda x: F.concat([x, x]), "nhwc"),
    (lambda x: F.conv2d(x, mge.tensor(np.ones((3, 2, 1, 1)), format="nhwc")), "nhwc"),
])
def test_format_propagation_matches_megengine(fn, want: str) -> None:  # noqa: ANN001
    x = _nhwc()
    out = fn(x)
    assert out.format == want
    np.testing.assert_array_equal(out.numpy(), fn(mge.tensor(x.numpy())).numpy())


def test_setitem_ellipsis_takes_the_value_and_its_format() -> None:
    b = _nhwc()
    b[...] = mge.tensor(np.zeros((1, 2, 3, 4), np.int32), format="nchw")
    assert b.format == "nchw" and not b.numpy().any()


def test_name_defaults_to_empty_string() -> None:
    x = Tensor(0)
    assert x.name == ""
    x.name = "x"
    assert x.name == "x"
    assert Tensor(Tensor(0, name="a")).name == ""


def test_tensor_of_tensor_refuses_another_dtype_or_device() -> None:
    x = Tensor(0, dtype=np.float32, device="xpu0:1")
    assert Tensor(x.astype(np.int32)).dtype == np.int32
    with pytest.raises(RuntimeError, match="astype"):
        Tensor(x.astype(np.int32), dtype=np.float32)
    with pytest.raises(RuntimeError, match="to\\(device\\)"):
        Tensor(x.to("xpu0:2"), device="xpu0:1")
    assert Tensor(x.to("xpu0:2")).device == "xpu0:2"


def test_numpy_ufunc_gives_a_tensor_on_the_same_device() -> None:
    xx = Tensor(np.array([1, 2, 3], np.int32), device="cpu0")
    out = np.add(xx, np.array([1, 0, 3], np.int32))
    assert isinstance(out, Tensor) and out.device == "cpu0"
    np.testing.assert_array_equal(out.numpy(), [2, 2, 6])


def test_none_operand_message() -> None:
    with pytest.raises(TypeError, match="the operand is None and is not supported."):
        Tensor(1.0) + None


def test_logger_level_follows_set_log_level() -> None:
    log = mge.get_logger("mge.test_tensor_format")
    old = mge.set_log_level(logging.ERROR)
    try:
        assert log.getEffectiveLevel() == logging.ERROR
    finally:
        mge.set_log_level(old)
    assert mge.get_device_count("cpu") == os.cpu_count()
    xpus = mge.get_device_count("gpu") if mge.is_cuda_available() else os.cpu_count()
    assert mge.get_device_count("xpu") == xpus  # MegEngine: xpu is cpu without CUDA


def test_op_errors_are_runtime_errors_as_in_megengine() -> None:
    a = mge.tensor(np.arange(8).reshape(2, 4))
    with pytest.raises(RuntimeError, match="shapes do not broadcast"):
        a + a.transpose()
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        a + a.transpose()


def test_auto_naming_handle() -> None:
    AutoNaming.clear()
    assert AutoNaming.get_scope() == ""


def test_reshape_takes_whole_float_shapes_and_shape_errors_are_runtime_errors() -> None:
    """MegEngine's test_interpreter: a float shape tensor of whole numbers reshapes, a
    mismatch raises RuntimeError (mge's errors stay ValueErrors too)."""
    a = mge.tensor([[1, 2, 2, 3]], dtype="float32")
    d = F.reshape(a, F.matmul(mge.tensor([1.0, 1.0]), mge.tensor([[2.0, 0.0], [0.0, 2.0]])))
    assert d.shape == (2, 2)
    with pytest.raises(RuntimeError, match="cannot reshape"):
        F.reshape(d, mge.tensor([1, 1]))
    with pytest.raises(RuntimeError, match="inner sizes differ"):
        F.matmul(d, mge.tensor([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="entries must be ints"):
        F.reshape(a, mge.tensor([2.5, 1.6]))


def test_config_async_level_is_checked() -> None:
    old = mge.config.async_level
    mge.config.async_level = 1
    assert mge.config.async_level == 1
    with pytest.raises(AssertionError, match="0, 1 or 2"):
        mge.config.async_level = 3
    mge.config.async_level = old


def test_device_logical_name_and_quantized_params_survive_save_load() -> None:
    """MegEngine's test_tensor_serialization: device.logical_name, and a tensor's qparams
    load back under the default (restricted) mge.load."""
    a = Tensor(np.arange(4, dtype=np.int32), device="cpu0")
    assert a.device == "cpu0" and a.device.logical_name == "cpu0:0"
    a.qparams.scale = Tensor(1.0)
    buf = io.BytesIO()
    mge.save(a, buf)
    buf.seek(0)
    b = mge.load(buf)
    assert b.device.logical_name == "cpu0:0" and b.dtype == np.int32
    np.testing.assert_equal(b.qparams.scale.numpy(), 1.0)
