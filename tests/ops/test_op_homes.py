"""The op classes are the homes of their facts: consumers ask the op, not string tables.

* ``register_op`` refuses an op class without a required fact;
* every ``.mge`` form names param tables the file format knows, and file names are unique;
* no string literal of a registered op type name stands outside the op homes
  (``mge/ops/``) and tests, except the allow-listed files of other work in progress.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.backends import Prepared, get_backend
from mge.core.opdef import REGISTRY, Memory, MgeForm, NoMgeForm, OpDef, register_op
from mge.ops import Elemwise
from mge.serialization.fbs.params import PARAMS_BY_ID
from mge.serialization.mge_oprs import op_class_for_file

PACKAGE = Path(mge.__file__).parent
#: files that still name op types by string, to ask the op instead in issue 12's next
#: step: the ONNX exporter's model assembly and builder (ONNX op names that equal mge
#: type names), the ONNX importer, jit, lite and module. Each entry goes when its file
#: asks the op instead (a test checks that every entry still has a literal).
ALLOWED = {
    "convert/onnx/exporter/model.py", "convert/onnx/exporter/sym.py",
    "convert/onnx/importer/tensor.py",
    "jit/dump.py", "jit/testcase.py", "lite/profile.py",
    "module/__init__.py", "module/wrappers.py",
    "runtime/plan_openvino.py",  # ONNX's vocabulary (the op set OpenVINO compiles)
}
#: the .mge file format's own vocabulary: param table and enum names that happen to
#: equal op type names (``Elemwise``, ``MatrixMul``... are also param tables)
FILE_FORMAT = "serialization/fbs/"


def test_register_op_requires_every_fact() -> None:
    with pytest.raises(TypeError, match="does not declare memory, mge_form"):
        @register_op
        @dataclasses.dataclass(frozen=True)
        class Forgotten(OpDef):
            type_name = "ForgottenForTest"
    assert "ForgottenForTest" not in REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_declares_its_facts(name: str) -> None:
    cls = REGISTRY[name]
    assert isinstance(cls.memory, Memory)
    assert isinstance(cls.mge_form, (MgeForm, NoMgeForm))
    assert cls.grad_rule is None or callable(cls.grad_rule)
    form = cls.mge_form
    if isinstance(form, MgeForm):
        tables = {p.name for p in PARAMS_BY_ID.values()}
        assert set(form.params) <= tables, f"{name}: unknown param tables"
        for file in (form.file, *form.legacy):
            assert op_class_for_file(file) is cls, f"{file} is read as another op"


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings and node.value in REGISTRY]


def test_no_op_type_name_literals_outside_op_homes() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("ops/", FILE_FORMAT)) or rel in ALLOWED:
            continue
        found += [f"mge/{rel}:{line}: {value!r}" for line, value in _literals(path)]
    assert not found, "ask the op class instead of naming its type:\n" + "\n".join(found)


def test_allow_list_is_current() -> None:
    stale = sorted(rel for rel in ALLOWED
                   if not (PACKAGE / rel).exists() or not _literals(PACKAGE / rel))
    assert not stale, f"drop from ALLOWED (no op type literal left): {stale}"


def test_eager_apply_prepares_once_per_op_and_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_module = importlib.import_module("mge.core.apply")

    calls = []

    def preparer(op: OpDef, site) -> Prepared:  # noqa: ANN001
        calls.append(tuple(i.shape for i in site.inputs))
        return Prepared(lambda x: -x, (0,))  # visibly not the kernel

    backend = get_backend()
    monkeypatch.setitem(Elemwise.preparers, backend.name, preparer)
    monkeypatch.setattr(apply_module, "_prepared", {})
    relu = Elemwise(mode="RELU")
    for shape in ((2,), (2,), (3,)):
        (y,) = apply_module.apply(relu, mge.tensor(np.ones(shape, np.float32)))
        np.testing.assert_array_equal(y.numpy(), -np.ones(shape, np.float32))
    assert calls == [((2,),), ((3,),)]
