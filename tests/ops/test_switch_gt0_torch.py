"""The torch ``SWITCH_GT0`` kernel (ReLU's gradient): aten ``threshold_backward`` on CPU
when ``x`` has no NaN, and exactly MegEngine's ``x > 0 ? y : 0`` in every case."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mge.ops.elemwise.torch_kernels import ELEMWISE  # noqa: E402


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf, -0.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_switch_gt0_is_exact(special: float | None, dtype: type) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5)).astype(dtype)
    x[0, :3] = 0.0
    y = rng.standard_normal((3, 5)).astype(dtype)
    y[1, 1] = np.nan  # a NaN gradient where x <= 0 gives exactly 0
    x[1, 1] = -1.0
    if special is not None:
        x[2, 2] = special
    got = ELEMWISE["SWITCH_GT0"](torch.from_numpy(x), torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(got, np.where(x > 0, y, np.zeros((), dtype)))
    assert got.dtype == dtype


def test_switch_gt0_broadcasts_and_mixes_dtypes() -> None:
    x = torch.tensor([[-1.0], [2.0]])
    y = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    got = ELEMWISE["SWITCH_GT0"](x, y)
    assert got.tolist() == [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
