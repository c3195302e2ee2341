"""megenginelite names no MegEngine Lite test uses: ``LiteTensor.np_array_type``,
``config_env`` and ``check_misc`` (the rest of the surface is covered by the other tests)."""

from __future__ import annotations

import ctypes
import os
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from mge.lite import (
    LiteDataType,
    LiteLayout,
    LiteTensor,
    LiteTypeError,
    check_misc,
    config_env,
)
from mge.lite import environment as lite_environment
from tests.oracle import oracle_python, requires_oracle


@pytest.mark.parametrize("shape, dtype, ctype", [
    ([2, 3], "float32", ctypes.c_float), ([5], "int32", ctypes.c_int32),
    ([1, 2, 2], "uint8", ctypes.c_uint8), ([4], "int16", ctypes.c_int16),
    ([3], "uint16", ctypes.c_uint16), ([2, 2], "int8", ctypes.c_int8),
])
def test_np_array_type_views_the_data(shape: list[int], dtype: str, ctype: type) -> None:
    tensor = LiteTensor(LiteLayout(shape, dtype))
    data = np.arange(np.prod(shape)).astype(dtype).reshape(shape)
    tensor.set_data_by_copy(data)
    array_type = tensor.np_array_type
    assert ctypes.sizeof(array_type) == tensor.nbytes
    view = np.ctypeslib.as_array(array_type.from_address(tensor.get_ctypes_memory().value))
    assert view.shape == tuple(shape) and view.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(view, data)
    view[...] = 1  # the same memory, not a copy
    assert (tensor.to_numpy() == 1).all()
    element = array_type
    while issubclass(element, ctypes.Array):
        element = element._type_
    assert ctypes.sizeof(element) == ctypes.sizeof(ctype)


def test_np_array_type_follows_the_layout() -> None:
    tensor = LiteTensor(LiteLayout([2, 3], LiteDataType.LITE_FLOAT))
    assert tensor.np_array_type.__name__ == "c_float_Array_3_Array_2"  # MegEngine's name
    tensor.set_data_by_copy(np.zeros((4,), np.int32))
    assert ctypes.sizeof(tensor.np_array_type) == 16 and tensor.np_array_type._length_ == 4
    assert LiteTensor().np_array_type is ctypes.c_float  # empty layout: the element type


def test_np_array_type_refuses_half() -> None:
    with pytest.raises(LiteTypeError, match="float16.*LITE_HALF"):
        _ = LiteTensor(LiteLayout([2], LiteDataType.LITE_HALF)).np_array_type


def test_config_env_defaults_to_lazy_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALREADY_CONFIG_CUDA_LOADING_MODE", raising=False)
    monkeypatch.delenv("CUDA_MODULE_LOADING", raising=False)
    config_env()
    assert os.environ["CUDA_MODULE_LOADING"] == "LAZY"
    monkeypatch.setenv("CUDA_MODULE_LOADING", "EAGER")  # the user's choice is kept
    config_env()
    assert os.environ["CUDA_MODULE_LOADING"] == "EAGER"
    monkeypatch.delenv("CUDA_MODULE_LOADING")
    monkeypatch.setenv("ALREADY_CONFIG_CUDA_LOADING_MODE", "1")  # configured elsewhere
    config_env()
    assert "CUDA_MODULE_LOADING" not in os.environ


def test_check_misc(monkeypatch: pytest.MonkeyPatch) -> None:
    check_misc()  # this environment has no conflicting distribution

    def with_megbrain() -> list[SimpleNamespace]:
        return [SimpleNamespace(metadata={"Name": "numpy"}),
                SimpleNamespace(metadata={"Name": "MegBrain"})]

    monkeypatch.setattr(lite_environment.importlib.metadata, "distributions", with_megbrain)
    with pytest.raises(AssertionError, match="'megbrain' distribution is installed"):
        check_misc()


@requires_oracle
def test_np_array_type_matches_megengine() -> None:
    script = ("import numpy as np; from megenginelite import LiteTensor, LiteLayout;"
              "t = LiteTensor(LiteLayout([2, 3, 4], np.int16));"
              "print(t.np_array_type.__name__, __import__('ctypes').sizeof(t.np_array_type))")
    out = subprocess.run([oracle_python(), "-c", script], capture_output=True, text=True,
                         check=True, env={"MEGENGINE_INTERP_ASYNC_LEVEL": "0"}).stdout.split()
    ours = LiteTensor(LiteLayout([2, 3, 4], np.int16)).np_array_type
    assert out[-2:] == [ours.__name__, str(ctypes.sizeof(ours))]
