"""Write ``tests/fixtures/interop/dump_form_<case>.mge``: real MegEngine 1.13's dumps of
small traces whose operator order, input order, names and priorities mge's
``trace.dump`` must reproduce (``tests/jit/test_megbrain_form.py`` compares them).

The cases show what MegBrain does while building a dumped graph: commutative inputs
sorted by var id (``2 * x`` is ``MUL(x, 2)``), constant-only ops folded (a parameter's
``astype`` chain), module tensors named after their module (``simple.lin.weight``),
repeated names numbered over the kept operators, input operators named, and
``keep_opr_priority``. Run with the oracle:
``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python tools/oracle/make_dump_form.py``.
"""

from pathlib import Path

import megengine as mge
import megengine.functional as F
import megengine.module as M
import numpy as np
from megengine import Parameter
from megengine.jit import trace

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "interop"
OPTS = dict(optimize_for_inference=False, keep_opr_name=True, keep_var_name=2)


class Simple(M.Module):
    def __init__(self) -> None:
        super().__init__(name="simple")
        self.k = Parameter(np.ones(3, "float32"))
        self.lin = M.Linear(3, 3)

    def forward(self, x):
        k = self.k.astype("int32").astype("float32") * 2
        return 2 * x + k + self.lin(x)


def three(x, y, z):
    return F.exp(z) + F.exp(y) + x


def branches(x, y):
    a = x + y
    r = F.relu(a) - F.abs(a)
    return r, (F.ceil(a) * 2) / F.floor(a)


def main() -> None:
    np.random.seed(0)
    mge.random.seed(0)
    t = lambda *s: mge.tensor(np.random.rand(*s).astype("float32"))  # noqa: E731
    f = trace(three, symbolic=True, capture_as_const=True)
    f(t(2), t(2), t(2))
    f.dump(str(OUT / "dump_form_three.mge"), **OPTS)
    g = trace(lambda x: 2 * x, symbolic=True, capture_as_const=True)
    g(mge.tensor(np.ones((2, 3), "float32"), name="data"))
    g.dump(str(OUT / "dump_form_named_input.mge"), **OPTS)
    m = trace(Simple(), symbolic=True, capture_as_const=True)
    m(t(2, 3))
    m.dump(str(OUT / "dump_form_module.mge"), arg_names=["x"], **OPTS)
    b = trace(branches, symbolic=True, capture_as_const=True)
    b(mge.tensor(1.0), mge.tensor(2.0))
    b.dump(str(OUT / "dump_form_priority.mge"), keep_opr_priority=True, **OPTS)


if __name__ == "__main__":
    main()
