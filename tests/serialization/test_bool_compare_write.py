"""Comparisons in ``.mge`` files as MegEngine 1.13 writes them: ``ElemwiseMultiType`` with
its mode (``LT``, ``LEQ``, ``EQ``, ``NEQ``, ``ISNAN``, ``ISINF``) and a bool output. Written
as ``Elemwise``, MegEngine computes them in the input dtype and refuses the logic ops
after them ("elemwise mode NOT does not allow float input": the End-to-end ASR
Transformer's padding masks, ``~(range >= lengths)``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import mge
from mge.graph.interpreter import Executor
from mge.jit import trace
from mge.serialization.fbs import read_model
from mge.serialization.mge_graph import graph_from_bytes
from tests.oracle import requires_oracle, run_in_megengine

X = np.array([[1, 5, 3, 0]], np.int32)
Y = np.array([[2, 2, 3, 0]], np.int32)
F_ = np.array([0.5, np.nan, 2.0, np.inf], np.float32)


def _masks(x, y, f):  # noqa: ANN001, ANN202 - mge tensors
    return [~(x <= y), (x.astype("float32") < 1.5) & (y > 0), (x == y) | (x != 3),
            ~mge.functional.isnan(f) & ~mge.functional.isinf(f)]


def _dumped() -> bytes:
    traced = trace(_masks, symbolic=True, capture_as_const=True)
    traced(mge.tensor(X), mge.tensor(Y), mge.tensor(F_))
    out = io.BytesIO()
    traced.dump(out, arg_names=["x", "y", "f"], output_names=["a", "b", "c", "d"],
                optimize_for_inference=False)
    return out.getvalue()


def _want() -> list[np.ndarray]:
    return [~(X <= Y), (X < 1.5) & (Y > 0), (X == Y) | (X != 3), ~np.isnan(F_) & ~np.isinf(F_)]


def test_comparisons_are_written_as_elemwise_multi_type_with_bool_output() -> None:
    model = read_model(_dumped(), "masks")
    compares = [op for op in model.operators if op.type == "ElemwiseMultiType"]
    assert sorted(op.params[0].fields["mode"] for op in compares) == \
        ["EQ", "ISINF", "ISNAN", "LEQ", "LT", "LT", "NEQ"]
    assert all(op.output_dtype.name == "Bool" for op in compares)
    assert not [op for op in model.operators if op.type == "Elemwise"
                and op.params[0].fields["mode"] in ("LT", "LEQ", "EQ", "NEQ")]


def test_mge_reads_its_comparisons_back() -> None:
    loaded = graph_from_bytes(_dumped(), "masks")
    got = Executor(loaded.graph, "numpy").run(x=X, y=Y, f=F_)
    for value, want in zip(got, _want(), strict=True):
        np.testing.assert_array_equal(np.asarray(value), want)


@requires_oracle
def test_megengine_runs_mge_dumped_comparisons(tmp_path: Path) -> None:
    (tmp_path / "masks.mge").write_bytes(_dumped())
    # real MegEngine Lite has no bool outputs: its graph runner
    got = run_in_megengine(tmp_path / "masks.mge", {"x": X, "y": Y, "f": F_}, runner="graph")
    for name, want in zip("abcd", _want(), strict=True):
        np.testing.assert_array_equal(got[name], want)
