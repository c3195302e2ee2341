"""Activation scales chosen by the network's output error (mge's own PTQ step; MegEngine
1.13 has none, and nothing in ``quantize`` calls it).

An activation observer picks each tensor's int8 scale from that tensor alone (its range,
its histogram's L2 or squared int8 error), but what matters is the error at the network's
output: a layer whose clipped outliers barely move the logits can afford a finer step,
one whose outliers carry the prediction cannot. :func:`search_activation_scales` tunes
the output scales of a quantized network (the ``output_dtype`` of its quantized modules,
the tensors MegEngine's int8 graph stores) by coordinate descent on the squared error of
the network's output against a reference output (the float network's) over calibration
data: for every scale group in the order the network runs them, it tries the current
scale times each ratio, keeps the best if it lowers the error by more than ``min_gain``,
and goes on. Groups tie tensors that must keep one scale (a conv and the ReLU6 that is
its only user after :func:`~.clipped_outputs.share_activation_scales`, so the pair stays
exact). Every candidate is one forward pass of the int8 network; the format stays
per-tensor symmetric qint8 (only the scales move), so the dump is unchanged. The biases
are stored in float and quantized at ``input scale * weight scale`` at each call, so
they follow a moved input scale.

On the real MobileNetV2 (``bench/int8_ptq.py --scale-search``) it lowers the logits'
error on the calibration crops it searched by 4 to 6 % but not on other crops (their
SQNR moves by under 0.05 dB): the observers' scales are already near what the output
wants, and the per-tensor errors it reports say which tensors are sensitive to clipping.

:func:`output_error` is the objective: ``sum (out - ref)^2 / sum ref^2`` (the logits'
SQNR is ``-10 log10`` of it).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import calibration_qconfig, quantize, quantize_qat
    >>> net = M.Sequential(M.QuantStub(), M.Conv2d(4, 4, 1), M.Elemwise("relu6"),
    ...                    M.DequantStub())
    >>> net.eval()
    >>> x = np.random.default_rng(0).normal(size=(8, 4, 5, 5)).astype("float32")
    >>> qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    >>> _ = qat(mge.tensor(x))
    >>> q = quantize(qat, inplace=False)
    >>> q.eval()
    >>> report = search_activation_scales(q, x, net(mge.tensor(x)).numpy())
    >>> report.error <= report.initial_error
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dtype import code_zero_point, get_scale, is_quantize
from ..module import Module
from ..tensor import Tensor
from .bias_correction import _as_batches
from .prefix_replay import PrefixReplay

DEFAULT_RATIOS = (0.8, 0.9, 1.1, 1.25)


@dataclass
class ScaleSearchReport:
    """What :func:`search_activation_scales` did: the output error before and after, and per
    group (``groups``: tuples of module names) its scale before and after and the error of
    each ratio tried in its last visit (``tried``: ``{ratio: error}``, the spread says how
    sensitive the output is to that tensor's scale)."""

    initial_error: float
    error: float
    groups: list[tuple[str, ...]] = field(default_factory=list)
    initial_scales: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    tried: list[dict[float, float]] = field(default_factory=list)


def _relative_error(out: np.ndarray, reference: np.ndarray) -> float:
    if out.shape != reference.shape:
        raise ValueError(f"output_error: the network's output {out.shape} and the reference "
                         f"{reference.shape} differ in shape")
    ref = reference.astype(np.float64)
    return float(np.sum((out - ref) ** 2) / max(float(np.sum(ref ** 2)), 1e-30))


def output_error(module: Module, batches: list[np.ndarray], reference: np.ndarray) -> float:
    """``sum (module(batches) - reference)^2 / sum reference^2`` (outputs concatenated
    along the first axis)."""
    return _relative_error(np.concatenate(
        [np.asarray(module(Tensor(b)).numpy(), dtype=np.float64) for b in batches]), reference)


def _symmetric_int8_output(module: Module) -> bool:
    dtype = getattr(module, "output_dtype", None)
    return dtype is not None and is_quantize(dtype) and code_zero_point(dtype) == 0


def scale_groups(module: Module, example: np.ndarray, tied: Sequence[Sequence[str]] = ()
                 ) -> list[tuple[str, ...]]:
    """The names of ``module``'s submodules with a symmetric quantized ``output_dtype``,
    in the order one forward pass on ``example`` calls them, those in a ``tied`` group
    merged into one group (at its first member's place); a tied group's members must
    hold one scale."""
    order: list[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, inp, n=n: order.append(n))
               for n, m in module.named_modules() if _symmetric_int8_output(m)]
    try:
        module(Tensor(example))
    finally:
        for h in handles:
            h.remove()
    mods = dict(module.named_modules())
    missing = [n for g in tied for n in g if n not in mods or not _symmetric_int8_output(mods[n])]
    if missing:
        raise ValueError(f"scale_groups: tied module {missing[0]!r} has no symmetric "
                         "quantized output_dtype")
    owner = {name: tuple(group) for group in tied for name in group}
    groups: list[tuple[str, ...]] = []
    for name in dict.fromkeys(order):
        group = owner.get(name, (name,))
        if group in groups:
            continue
        scales = {get_scale(mods[n].output_dtype) for n in group}
        if len(scales) != 1:
            raise ValueError(f"scale_groups: tied modules {group} hold different scales "
                             f"{sorted(scales)}")
        groups.append(group)
    return groups


def _with_scale(dtype: np.dtype, scale: float) -> np.dtype:
    """``dtype`` (a symmetric quantized one) with its scale replaced (a float32 value, as
    a dump stores it)."""
    info = {**dtype.metadata["mgb_dtype"], "scale": float(np.float32(scale))}
    return np.dtype(dtype.str, metadata={"mgb_dtype": info})


def _set_scale(mods: dict[str, Module], group: tuple[str, ...], scale: float) -> None:
    for name in group:
        mods[name].output_dtype = _with_scale(mods[name].output_dtype, scale)


def search_activation_scales(
    module: Module, data: Any, reference: np.ndarray,
    tied: Sequence[Sequence[str]] = (), ratios: Sequence[float] = DEFAULT_RATIOS,
    sweeps: int = 1, min_gain: float = 0.005, only: Sequence[str] | None = None,
) -> ScaleSearchReport:
    """Tune the output scales of the quantized ``module`` by coordinate descent on its
    output error against ``reference`` over ``data``, in place.

    Args:
        module: a quantized network (after :func:`~.quantize`; its quantized modules'
            ``output_dtype`` are the scales tuned).
        data: calibration input: one array/Tensor or a sequence of batches.
        reference: the output to approach (the float network's on ``data``,
            concatenated along the first axis).
        tied: groups of module names that must keep one scale (a producer and the
            ReLU/ReLU6 that is its only user, as :func:`~.share_activation_scales`
            returns them).
        ratios: each visit tries the group's current scale times each of these.
        sweeps: passes over all groups.
        min_gain: a candidate replaces the current scale only if it lowers the error
            by more than this fraction (guards against fitting the calibration noise).
        only: tune only the groups holding one of these names (None: all).

    Returns:
        A :class:`ScaleSearchReport`.

    Raises:
        ValueError: no data, a reference of another shape than the output, a tied
            module without a symmetric quantized output or tied modules of different
            scales.
    """
    batches = _as_batches(data)
    reference = np.asarray(reference)
    groups = scale_groups(module, batches[0][:1], tied)
    if only is not None:
        wanted = set(only)
        groups = [g for g in groups if wanted & set(g)]
    mods = dict(module.named_modules())
    replay = PrefixReplay(module, batches)
    best = _relative_error(replay.record(), reference)
    report = ScaleSearchReport(best, best, groups,
                               [get_scale(mods[g[0]].output_dtype) for g in groups])
    report.tried = [{} for _ in groups]
    for _ in range(sweeps):
        for i, group in enumerate(groups):
            first = min(group, key=replay.order.index)
            current = get_scale(mods[group[0]].output_dtype)
            tried = {}
            for r in ratios:
                _set_scale(mods, group, current * r)
                tried[float(r)] = _relative_error(replay.run_from(first), reference)
            pick = min(tried, key=tried.__getitem__)
            accept = tried[pick] < best * (1 - min_gain)
            _set_scale(mods, group, current * pick if accept else current)
            if accept:
                best = tried[pick]
                replay.run_from(first, keep=True)
            report.tried[i] = tried
    report.error = best
    report.scales = [get_scale(mods[g[0]].output_dtype) for g in groups]
    return report


__all__ = ["DEFAULT_RATIOS", "ScaleSearchReport", "output_error", "scale_groups",
           "search_activation_scales"]
