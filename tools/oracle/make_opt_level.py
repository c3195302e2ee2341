"""Write ``tests/fixtures/jit/opt_level.npz``: what real MegEngine 1.13's ``trace`` returns
for expressions its graph optimizer rewrites (``x / x``, ``log(exp(x))``,
``log(exp(x) + exp(y))``, ``log(1 + x)``, ``exp(x) - 1``, ``x * 0``, ``x * 2 - x * 2``...)
at ``opt_level`` 0, 1 and 2, symbolic or not, on the first and the later calls.

The expressions are :func:`cases`, shared with ``tests/jit/test_opt_level.py``. Run with
the oracle:
``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python -m tools.oracle.make_opt_level``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "jit" / "opt_level.npz"
X = np.array([1e4, 1e-8, np.inf], dtype=np.float32)
Y = np.array([0.0, 2.0, 1.0], dtype=np.float32)
CALLS = 3


def same_var(F: Any, x: Any) -> Any:  # noqa: N803 - the functional module
    """``x / x`` of an argument: the same var only in the calls after the first."""
    return x / x


def cases(F: Any, x: Any, y: Any) -> tuple:  # noqa: N803
    """The rewritten expressions (MegBrain's inplace arith rules)."""
    return (F.log(F.exp(x) + F.exp(y)), F.log(F.exp(x)), F.log(F.exp(x) * y),
            F.log(1 + x), F.exp(x) - 1, x * 0, (x * 2) - (x * 2), F.log(y / F.exp(x)),
            F.log(F.exp(x) / F.exp(y)), x + 0, (2.0 * x) / (2.0 * x))


def run(mge: Any, F: Any, trace: Any) -> dict[str, np.ndarray]:  # noqa: N803
    """``{"<symbolic>_<opt_level>_<fn>_<call>": outputs}`` for every setting."""
    out: dict[str, np.ndarray] = {}
    for symbolic in (True, False):
        for level in (0, 1, 2):
            f = trace(symbolic=symbolic, opt_level=level, capture_as_const=True)(
                lambda x: same_var(F, x))
            g = trace(symbolic=symbolic, opt_level=level, capture_as_const=True)(
                lambda x, y: cases(F, x, y))
            for call in range(CALLS):
                key = f"{int(symbolic)}_{level}"
                out[f"{key}_f_{call}"] = f(mge.tensor(np.float32(0.0))).numpy()
                out[f"{key}_g_{call}"] = np.stack(
                    [r.numpy() for r in g(mge.tensor(X), mge.tensor(Y))])
    return out


def main() -> None:
    import megengine as mge
    import megengine.functional as F
    from megengine.jit import trace

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **run(mge, F, trace))


if __name__ == "__main__":
    main()
