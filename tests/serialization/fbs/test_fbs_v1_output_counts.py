"""FBS (v1) files store no output lists, so a file without variable names can be read
only when mge knows how many variables each operator adds. RNN, LSTM and LSTMCell are
checked on MegEngine's own dumps (``tests/fixtures/outcount/v1``, made by
``oracle_dump_v1_counts.py``: v1 without names beside FBS_V2, which lists the outputs);
the gradient and conditional-execution operators, which MegEngine 1.13's Python cannot
dump, against the counts read from its C++ operator constructors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mge.serialization.fbs import read_model
from mge.serialization.fbs.formats import detect_format
from mge.serialization.fbs.model import Operator, Param
from mge.serialization.fbs.oprs_v1 import output_count

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "outcount" / "v1"
CASES = sorted(p for p in FIXTURES.glob("*.mge") if not p.name.endswith(".v1.mge"))
_SOURCES = {"Host2DeviceCopy", "ImmutableTensor", "SharedDeviceTensor"}


def _counts(path: Path) -> list[tuple[str, int]]:
    model = read_model(path.read_bytes(), path.name)
    return [(op.type, len(op.outputs)) for op in model.operators if op.type not in _SOURCES]


@pytest.mark.parametrize("v2", CASES, ids=lambda p: p.stem)
def test_unnamed_v1_files_read_with_megengines_counts(v2: Path) -> None:
    v1 = v2.with_suffix(".v1.mge")
    assert detect_format(v1.read_bytes()) == "FBS"
    assert detect_format(v2.read_bytes()) == "FBS_V2"
    model = read_model(v1.read_bytes(), v1.name)
    assert not model.vars or not any(v.name for v in model.vars), "the file has names"
    assert _counts(v1) == _counts(v2)
    assert len(model.outputs) == _counts(v2)[0][1]


def test_the_fixtures_hold_the_recurrent_ops() -> None:
    assert {p.stem for p in CASES} == {"rnn", "lstm", "lstm_cell"}
    assert [c for p in CASES for c in _counts(p)] == [
        ("LSTMForward", 4), ("LSTMCellForward", 3), ("RNNForward", 3)]


def _op(type_: str, nr_inputs: int, **params: dict) -> Operator:
    return Operator(type_, inputs=list(range(nr_inputs)),
                    params=[Param(k, v) for k, v in params.items()])


@pytest.mark.parametrize(("op", "count"), [
    (_op("RNNBackward", 7), 3),
    (_op("LSTMBackward", 9), 4),
    (_op("LayerNormBackward", 5), 3),
    (_op("LayerNormBackward", 4), 1),  # no weight: its gradients are volatile
    (_op("GroupNormBackward", 5), 3),
    (_op("InstanceNormBackward", 4), 1),
    (_op("GeneralNormBackward", 5), 3),
    (_op("MultiHeadAttnBackward", 9), 6),
    (_op("ROIPoolingBackward", 4), 1),
    (_op("DeformablePSROIPoolingBackward", 5), 2),
    (_op("CondExecPred", 4, CondExecPred={"mode": "CASE"}), 3),
    (_op("CondExecPred", 4, CondExecPred={"mode": "CASE_FALLBACK"}), 4),
    (_op("CondExecPred", 4, CondExecPred={"mode": "PIECEWISE"}), 4),
    (_op("CondExecPredLogical", 3), 1),
    (_op("CondExecMark", 3), 2),  # the last input is the predicate
    (_op("CondExecMarkIfNeed", 2), 1),
    (_op("CondExecMerge", 4, CondExecMerge={"nr_output": 2, "mode": "EXACT_ONE"}), 2),
], ids=lambda v: v.type if isinstance(v, Operator) else str(v))
def test_counts_from_megengines_operators(op: Operator, count: int) -> None:
    assert output_count(op) == count


@pytest.mark.parametrize("type_", ["ExternCOprRunner", "TensorRTRuntimeOpr", "VirtualGrad"])
def test_outside_defined_counts_stay_unknown(type_: str) -> None:
    assert output_count(_op(type_, 1)) is None

