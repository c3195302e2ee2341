"""``apply``'s prepared-kernel cache: one preparation per op, backend and signature,
where quantized signatures differing only in scale or zero point are distinct."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import mge
from mge.backends import Prepared, get_backend
from mge.core.opdef import OpDef
from mge.dtype import qint8
from mge.ops import Elemwise


def test_quantized_signatures_prepare_separately(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_module = importlib.import_module("mge.core.apply")
    seen = []

    def preparer(op: OpDef, site) -> Prepared:  # noqa: ANN001
        seen.append(site.inputs[0].dtype.metadata["mgb_dtype"]["scale"])
        return Prepared(lambda x: x, (0,))

    monkeypatch.setitem(Elemwise.preparers, get_backend().name, preparer)
    monkeypatch.setattr(apply_module, "_prepared", {})
    relu = Elemwise(mode="RELU")
    for scale in (0.5, 0.25, 0.5, 0.25):
        x = mge.tensor(np.ones((2,), np.int8).view(qint8(scale)), dtype=qint8(scale))
        apply_module.apply(relu, x)
    assert seen == [0.5, 0.25]
