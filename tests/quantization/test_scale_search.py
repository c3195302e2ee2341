"""``search_activation_scales``: activation scales tuned by the network's output error."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.module as M
from mge.dtype import get_scale
from mge.quantization import (
    calibration_qconfig,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.scale_search import output_error, scale_groups, search_activation_scales


def _net() -> M.Module:
    net = M.Sequential(M.QuantStub(), M.Conv2d(4, 8, 1), M.Elemwise("relu6"),
                       M.Conv2d(8, 4, 1), M.DequantStub())
    net.eval()
    return net


def _quantized(net: M.Module, x: np.ndarray, share: bool = False
               ) -> tuple[M.Module, list[tuple[str, str]]]:
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(x))
    pairs = share_activation_scales(qat, mge.tensor(x[:1])) if share else []
    q = quantize(qat, inplace=False)
    q.eval()
    return q, pairs


def test_scale_groups_in_call_order_with_tied_pairs_merged() -> None:
    x = np.random.default_rng(0).normal(size=(4, 4, 5, 5)).astype("float32")
    q, pairs = _quantized(_net(), x, share=True)
    assert pairs == [("1", "2")]
    assert scale_groups(q, x[:1]) == [("0",), ("1",), ("2",), ("3",)]
    assert scale_groups(q, x[:1], pairs) == [("0",), ("1", "2"), ("3",)]
    with pytest.raises(ValueError, match="different scales"):
        scale_groups(q, x[:1], [("0", "3")])
    with pytest.raises(ValueError, match="'4'"):
        scale_groups(q, x[:1], [("4",)])


def test_search_recovers_a_spoiled_scale_and_keeps_tied_scales_equal() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4, 6, 6)).astype("float32")
    net = _net()
    q, pairs = _quantized(net, x, share=True)
    ref = net(mge.tensor(x)).numpy()
    mods = dict(q.named_modules())
    start = output_error(q, [x], ref)
    spoiled = get_scale(mods["3"].output_dtype) * 1.6
    mods["3"].output_dtype = mge.dtype.qint8(spoiled)  # coarser output step
    worse = output_error(q, [x], ref)
    assert worse > start
    report = search_activation_scales(q, [x[:8], x[8:]], ref, tied=pairs,
                                      ratios=(0.6, 0.8, 1.25), sweeps=2)
    assert report.initial_error == pytest.approx(worse)
    assert report.error < worse and report.error == pytest.approx(output_error(q, [x], ref))
    assert get_scale(mods["3"].output_dtype) < spoiled
    assert get_scale(mods["1"].output_dtype) == get_scale(mods["2"].output_dtype)
    assert report.groups == [("0",), ("1", "2"), ("3",)]
    assert all(sorted(t) == [0.6, 0.8, 1.25] for t in report.tried)


def test_search_only_touches_the_named_groups_and_refuses_a_wrong_reference() -> None:
    x = np.random.default_rng(2).normal(size=(8, 4, 5, 5)).astype("float32")
    net = _net()
    q, _ = _quantized(net, x)
    ref = net(mge.tensor(x)).numpy()
    before = {n: get_scale(m.output_dtype) for n, m in q.named_modules()
              if getattr(m, "output_dtype", None) is not None}
    report = search_activation_scales(q, x, ref, only=["3"], ratios=(0.5, 2.0))
    assert report.groups == [("3",)]
    after = {n: get_scale(m.output_dtype) for n, m in q.named_modules()
             if getattr(m, "output_dtype", None) is not None}
    assert {n: s for n, s in after.items() if n != "3"} == \
        {n: s for n, s in before.items() if n != "3"}
    with pytest.raises(ValueError, match="shape"):
        output_error(q, [x], ref[:4])
