"""Complex tensors (``F.complex``, ``F.real``, ``F.imag``, ``F.polar``) as MegEngine 1.13's:
float32 parts, the ops MegEngine supports, its refusals, and traces of float32 ops only."""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import mge.functional as F
from mge import Tensor
from mge.convert import to_onnx
from mge.core._imperative_rt.core2 import create_complex, get_imag, get_real
from mge.jit import trace
from mge.lite import LiteNetwork

GOLDEN = np.load(Path(__file__).parents[1] / "fixtures" / "complex" / "oracle.npz")


def _cases(a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> dict[str, Tensor]:
    z, w = F.complex(a, b), F.complex(c, d)
    return {
        "complex": z, "polar": F.polar(a, b), "mul": z * w, "add": z + w, "sub": z - w,
        "neg": -z, "reshape": z.reshape(6, 4), "flatten": F.flatten(z), "index": z[1, :, 1:3],
        "chain": (z * w - F.polar(c, d)) * z, "real": F.real(z * w), "imag": F.imag(z * w),
    }


def test_matches_megengine_on_every_backend(each_backend: str) -> None:
    a, b, c, d = (Tensor(GOLDEN[f"in_{k}"]) for k in "abcd")
    for name, got in _cases(a, b, c, d).items():
        want = GOLDEN[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6, err_msg=name)


def test_parts_and_construction() -> None:
    z = F.complex([1.0, 2.0], [3.0, 4.0])
    assert isinstance(z, Tensor) and z.dtype == np.complex64 and z.shape == (2,)
    assert F.real(z) is get_real(z) and F.imag(z) is get_imag(z)
    np.testing.assert_array_equal(create_complex(z.real, z.imag).numpy(), z.numpy())
    from_array = Tensor(np.array([1 + 2j, 3 - 4j], np.complex64))
    np.testing.assert_array_equal(from_array.numpy(), [1 + 2j, 3 - 4j])
    assert from_array.shape == (2,)  # MegEngine 1.13 gives (2, 1) here: a bug not copied
    np.testing.assert_array_equal(Tensor([1, 2], dtype="complex64").numpy(), [1, 2])
    assert "dtype=complex64" in repr(z)
    assert np.array_equal(pickle.loads(pickle.dumps(z)).numpy(), z.numpy())
    assert z[1].item() == 2 + 4j


@pytest.mark.parametrize("fn, what", [
    (lambda z, x: z / z, "TypeCvt"),
    (lambda z, x: abs(z), "Elemwise(ABS)"),
    (lambda z, x: z.sum(), "Reduce(SUM)"),
    (lambda z, x: z.transpose(0), "Dimshuffle"),
    (lambda z, x: z.astype("float32"), "TypeCvt"),
    (lambda z, x: z - x, "complex64 and float32"),
    (lambda z, x: z * x, "complex64 and float32"),
    (lambda z, x: F.real(x), "F.real needs a complex tensor"),
    (lambda z, x: F.complex(Tensor([1, 2]), Tensor([1, 2])), "float32"),
    (lambda z, x: F.complex(x, Tensor([1.0])), "shape"),
    (lambda z, x: Tensor(np.array([1j])), "complex128"),
])
def test_refuses_what_megengine_refuses(fn, what: str) -> None:
    x = Tensor([1.0, 2.0])
    z = F.complex(x, x)
    with pytest.raises((RuntimeError, TypeError), match=re.escape(what)):
        fn(z, x)


@pytest.mark.parametrize("symbolic", [False, True])
def test_trace_records_float_ops_and_refuses_complex_outputs(symbolic: bool,
                                                             tmp_path: Path) -> None:
    a, b = Tensor(GOLDEN["in_a"]), Tensor(GOLDEN["in_b"])

    @trace(symbolic=symbolic, capture_as_const=True)
    def f(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        z = F.complex(a, b) * F.complex(b, a)
        return F.real(z), F.imag(-z)

    for _ in range(2):
        re, im = f(a, b)
    np.testing.assert_allclose(re.numpy(), 0 * GOLDEN["in_a"], atol=1e-6)  # ab - ba
    np.testing.assert_allclose(im.numpy(), -(GOLDEN["in_a"] ** 2 + GOLDEN["in_b"] ** 2),
                               rtol=1e-6)
    buf = io.BytesIO()
    f.dump(buf, arg_names=["a", "b"])
    runner = LiteNetwork()
    runner.load(buf.getvalue())
    for name, x in (("a", GOLDEN["in_c"]), ("b", GOLDEN["in_d"])):
        runner.get_io_tensor(name).set_data_by_copy(x)
    runner.forward()
    runner.wait()
    got = runner.get_io_tensor(runner.get_all_output_name()[1]).to_numpy()
    np.testing.assert_allclose(got, -(GOLDEN["in_c"] ** 2 + GOLDEN["in_d"] ** 2), rtol=1e-5)

    ort = pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "complex.onnx"
    mge_path = tmp_path / "complex.mge"
    mge_path.write_bytes(buf.getvalue())
    to_onnx(str(mge_path), onnx_path)  # float32 operators only: ONNX needs no complex op
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"a": GOLDEN["in_c"], "b": GOLDEN["in_d"]})[1]
    np.testing.assert_allclose(got, -(GOLDEN["in_c"] ** 2 + GOLDEN["in_d"] ** 2), rtol=1e-5)

    @trace(symbolic=symbolic, capture_as_const=True)
    def g(a: Tensor, b: Tensor) -> Tensor:
        return F.complex(a, b)

    with pytest.raises(RuntimeError, match="cannot be an input or output of a traced"):
        g(a, b)
