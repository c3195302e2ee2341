"""The op classes are the homes of their facts: consumers ask the op, not string tables.

* ``register_op`` refuses an op class without a required fact;
* every ``.mge`` form names param tables the file format knows, and file names are unique;
* no string literal of a registered op type name stands outside the op homes
  (``mge/ops/``) and tests, except the allow-listed files of other work in progress.
  Names that are not op types though they are spelt alike do not count: ``__all__``
  entries (Python names, e.g. ``M.Concat``) and the strings of a module that declares
  another op vocabulary (``OP_VOCABULARY = "onnx"``: each such string must be an op of
  that vocabulary).
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
#: files allowed to name op types by string (none left: a module speaking another
#: vocabulary declares ``OP_VOCABULARY``)
ALLOWED: set[str] = set()
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
            reader = op_class_for_file(file)
            assert reader is cls if form.reads else reader is not None, \
                f"{file} is read as another op"


def _module_assignment(tree: ast.Module, name: str) -> ast.expr | None:
    """The value a module-level ``name = ...`` (or ``name: T = ...``) assigns."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == name):
            return node.value
    return None


def _vocabulary(tree: ast.Module) -> str | None:
    """The op vocabulary a module declares its strings speak (``OP_VOCABULARY``)."""
    value = _module_assignment(tree, "OP_VOCABULARY")
    if value is None:
        return None
    assert isinstance(value, ast.Constant) and isinstance(value.value, str), \
        "OP_VOCABULARY must be a string literal"
    return value.value


def _literals(path: Path) -> list[tuple[int, str]]:
    """Op-type-like string literals of a file: not docstrings, not ``__all__`` entries."""
    tree = ast.parse(path.read_text())
    skipped = {id(node.body[0].value) for node in ast.walk(tree)
               if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
               and node.body and isinstance(node.body[0], ast.Expr)}
    exported = _module_assignment(tree, "__all__")
    if exported is not None:
        skipped |= {id(node) for node in ast.walk(exported)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skipped and node.value in REGISTRY]


def _package_files() -> list[tuple[str, Path]]:
    return [(path.relative_to(PACKAGE).as_posix(), path)
            for path in sorted(PACKAGE.rglob("*.py"))]


def _onnx_op_names() -> frozenset[str]:
    defs = pytest.importorskip("onnx.defs")
    return frozenset(schema.name for schema in defs.get_all_schemas_with_history())


#: vocabulary -> its op names, for modules whose strings name another framework's ops
VOCABULARIES = {"onnx": _onnx_op_names}


def test_no_op_type_name_literals_outside_op_homes() -> None:
    found = []
    for rel, path in _package_files():
        if rel.startswith(("ops/", FILE_FORMAT)) or rel in ALLOWED:
            continue
        if _vocabulary(ast.parse(path.read_text())) is not None:
            continue  # test_other_vocabularies_name_their_ops checks these
        found += [f"mge/{rel}:{line}: {value!r}" for line, value in _literals(path)]
    assert not found, "ask the op class instead of naming its type:\n" + "\n".join(found)


def _vocabulary_errors(files: list[tuple[str, Path]]) -> list[str]:
    """The op-type-like strings of modules declaring another vocabulary that are not ops
    of that vocabulary."""
    declared = {rel: (vocab, path) for rel, path in files
                if (vocab := _vocabulary(ast.parse(path.read_text()))) is not None}
    unknown = sorted({v for v, _ in declared.values()} - set(VOCABULARIES))
    assert not unknown, f"unknown OP_VOCABULARY {unknown}: known are {sorted(VOCABULARIES)}"
    names = {vocab: VOCABULARIES[vocab]() for vocab in {v for v, _ in declared.values()}}
    return [f"mge/{rel}:{line}: {value!r} is a registered mge op type, not an op of {vocab}"
            for rel, (vocab, path) in declared.items()
            for line, value in _literals(path) if value not in names[vocab]]


def test_other_vocabularies_name_their_ops() -> None:
    errors = _vocabulary_errors(_package_files())
    assert not errors, "\n".join(errors)


def test_literal_scan_tells_other_names_apart(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text('__all__ = ["Concat"]\nKIND = "Elemwise"\n')
    assert _literals(mine) == [(2, "Elemwise")]  # __all__ names Python objects
    onnx_module = tmp_path / "onnx_module.py"
    onnx_module.write_text('OP_VOCABULARY = "onnx"\nOPS = {"Reshape", "Elemwise"}\n')
    assert _vocabulary_errors([("onnx_module.py", onnx_module)]) == [
        "mge/onnx_module.py:2: 'Elemwise' is a registered mge op type, not an op of onnx"]


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
