"""trace_module: structure, numerics, retracing, pickling, errors."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import mge.functional as F
import mge.module as M
import mge.traced_module as tm

from .nets import Net, data


def _close(a, b, atol=1e-6) -> None:  # noqa: ANN001
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=atol)


def test_traced_module_is_module_and_matches_eager() -> None:
    net, x = Net(), data(2, 3)
    traced = tm.trace_module(net, x)
    assert isinstance(traced, M.Module) and isinstance(traced, tm.TracedModule)
    _close(traced(x), net(x))
    _close(traced(data(2, 3, seed=1)), net(data(2, 3, seed=1)))
    traced.graph.lint()


def test_hierarchy_kept_builtin_leaves_and_user_subgraphs() -> None:
    traced = tm.trace_module(Net(), data(2, 3))
    graph = traced.graph
    assert isinstance(traced.b1, tm.TracedModule) and isinstance(traced.act, M.ReLU)
    assert graph.get_module_by_type(M.ReLU).as_count() == 1
    assert graph.get_function_by_type(F.relu).as_count() == 2  # inside b1 and b2
    assert graph.get_function_by_type(F.relu, recursive=False).as_count() == 0
    assert graph.get_method_by_type("__add__").as_count() == 2
    text = str(traced.b1.graph)
    assert "F.relu(%mul_out)" in text and 'getattr(%self, "scale")' in text


def test_filters_and_lookup() -> None:
    graph = tm.trace_module(Net(), data(2, 3)).graph
    relu = graph.get_function_by_type(F.relu).as_list()[0]
    assert graph.get_expr_by_id(relu._id).as_unique() is relu
    node = relu.outputs[0]
    assert graph.get_node_by_id(node._id).as_unique() is node
    assert graph.get_node_by_name("ACT_OUT", ignorecase=True).as_unique().name == "act_out"
    assert graph.get_node_by_name("b*", recursive=False).as_count() == 4
    assert len(graph.exprs().as_dict()) == graph.exprs().as_count()
    with pytest.raises(ValueError, match="exactly one"):
        graph.get_function_by_type(F.relu).as_unique()


def test_retrace_keeps_structure() -> None:
    x = data(2, 3)
    traced = tm.trace_module(Net(), x)
    again = tm.trace_module(traced, x)
    assert str(again.graph) == str(traced.graph)
    assert str(again.b1.graph) == str(traced.b1.graph)
    _close(again(x), traced(x))


def test_traced_module_as_submodule_of_plain_module() -> None:
    x = data(2, 3)
    inner = tm.trace_module(Net(), x)

    class Outer(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.inner(x)[0] * 2

    outer = Outer()
    _close(outer(x), inner(x)[0] * 2)
    traced = tm.trace_module(outer, x)
    assert isinstance(traced.inner, tm.TracedModule)
    assert traced.inner.b1.graph.get_function_by_type(F.relu).as_count() == 1
    _close(traced(x), outer(x))


def test_flatten_inlines_submodules() -> None:
    x = data(2, 3)
    traced = tm.trace_module(Net(), x)
    flat = traced.flatten()
    flat.graph.lint()
    assert flat.graph.get_function_by_type(F.relu, recursive=False).as_count() == 2
    assert 'getattr(%self, "b1.scale")' in str(flat.graph)
    _close(flat(x), traced(x))


def test_pickle_roundtrip_in_process() -> None:
    x = data(2, 3)
    traced = tm.trace_module(Net(), x)
    loaded = pickle.loads(pickle.dumps(traced))
    _close(loaded(x), traced(x))
    assert str(loaded.graph) == str(traced.graph)


def test_pickle_loads_without_model_source(tmp_path) -> None:  # noqa: ANN001
    src = tmp_path / "mymodel.py"
    src.write_text(
        "import mge.functional as F, mge.module as M\n"
        "class Tiny(M.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = M.Linear(3, 2)\n"
        "    def forward(self, x):\n"
        "        return F.relu(self.fc(x)) * 3\n"
    )
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    make = (
        "import numpy as np, mge, mge.traced_module as tm\n"
        "from mymodel import Tiny\n"
        "net = Tiny()\n"
        f"x = mge.tensor(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "t = tm.trace_module(net, x)\n"
        f"mge.save(t, {str(tmp_path / 'tiny.pkl')!r})\n"
        f"np.save({str(tmp_path / 'ref.npy')!r}, net(x).numpy())\n"
    )
    subprocess.run([sys.executable, "-c", make], check=True, cwd=tmp_path)  # imports mymodel
    src.unlink()
    use = (
        "import numpy as np, mge\n"
        f"t = mge.load({str(tmp_path / 'tiny.pkl')!r})\n"
        f"out = t(mge.tensor(np.load({str(tmp_path / 'x.npy')!r}))).numpy()\n"
        f"assert np.allclose(out, np.load({str(tmp_path / 'ref.npy')!r}), atol=1e-6)\n"
        "assert 'mymodel' not in __import__('sys').modules\n"
        "print(type(t).__name__, t.origin_class)\n"
    )
    out = subprocess.run([sys.executable, "-c", use], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    assert out.stdout.split() == ["TracedModule", "Tiny"]


def test_control_flow_on_tensor_value_is_refused() -> None:
    class Branchy(M.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            if (x.sum() > 0).item():
                return x
            return -x

    with pytest.raises(tm.TraceError, match=r"uses the value of %.*item|tensor-dependent"):
        tm.trace_module(Branchy(), data(2, 3))


def test_unsupported_python_object_is_named() -> None:
    class Opaque:
        pass

    class Odd(M.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            return F.clip(x, Opaque(), 1.0)

    with pytest.raises(tm.TraceError, match="unsupported Python object of type Opaque"):
        tm.trace_module(Odd(), data(2, 3))


def test_module_not_an_attribute_is_refused() -> None:
    class Stray(M.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            return M.ReLU()(x)

    with pytest.raises(tm.TraceError, match="not an attribute"):
        tm.trace_module(Stray(), data(2, 3))


def test_keyword_and_nested_arguments() -> None:
    class Pair(M.Module):
        def forward(self, xs, *, scale=1.0):  # noqa: ANN001, ANN202
            a, b = xs
            return {"sum": (a + b) * scale, "diff": a - b}

    net, a, b = Pair(), data(2, 3), data(2, 3, seed=5)
    traced = tm.trace_module(net, (a, b), scale=2.0)
    out = traced((a, b), scale=2.0)
    assert set(out) == {"sum", "diff"}
    _close(out["sum"], net((a, b), scale=2.0)["sum"])
    assert [n.name for n in traced.graph.inputs] == ["self", "xs_0", "xs_1"]


def test_apply_calls_are_recorded() -> None:
    from mge.core.apply import apply
    from mge.ops import Elemwise

    class Raw(M.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            return apply(Elemwise(mode="EXP"), x)[0]

    x = data(2, 3)
    traced = tm.trace_module(Raw(), x)
    assert "Elemwise(mode='EXP')" in str(traced.graph)
    _close(traced(x), F.exp(x))


def test_get_dep_exprs_and_eval() -> None:
    x = data(2, 3)
    traced = tm.trace_module(Net(), x)
    graph = traced.graph
    out = graph.outputs[0]
    deps = graph.get_dep_exprs(out)
    assert deps[-1] is out.expr
    assert [e.method for e in deps if isinstance(e, tm.CallMethod)][-1] == "__call__"
    sub_out = graph.outputs[1]
    assert out.expr not in graph.get_dep_exprs(sub_out)
    evaluated = graph.eval(x)
    _close(evaluated, traced(x))
