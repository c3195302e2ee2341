"""AdaRound: learned up/down rounding of the int8 weights (mge's own PTQ step; MegEngine
1.13 has none, and nothing in ``quantize`` calls it).

Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization":
rounding every weight to its nearest int8 code is not what keeps a layer's output closest
to the float one; the best choice between ``floor(w / s)`` and ``floor(w / s) + 1`` depends
on the data. For each QAT ``Conv2d``/``Linear`` (``ConvRelu2d``, ``LinearRelu``
included), :func:`adaround` learns a soft rounding ``h(V) = clip(sigmoid(V) * 1.2 - 0.1,
0, 1)`` per weight by Adam on the layer's squared output error (its quantized input,
as the fake-quantized network computes it, against the float network's output) plus the
paper's regularizer ``lambda * sum(1 - |2h - 1|^beta)`` with ``beta`` annealed from 20
to 2, which drives every ``h`` to 0 or 1. The error is a quadratic form in the weights
(:mod:`.layer_stats`), so the optimization never runs the layer again. The layers are
rounded in the order the network runs them, during one pass of the quantized network
over the calibration data: each learns on its real int8 input, through the layers
already rounded. numpy only, deterministic (no random state), seconds per layer.

The weights are rewritten as ``code * scale`` with the scale the weight observer chose,
so :func:`~.quantize` stores exactly the learned codes: the format (per-tensor qint8,
what MegEngine Lite runs) and the dump are unchanged; each code differs from the
nearest one by at most 1. A layer keeps its nearest codes where the learned ones do not
lower its error on the calibration data. ``masked``: a depthwise conv (one output channel
per group, so its statistics are per channel) counts its error only where its float
output survives the int8 output and the ReLU6 after it.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import (adaround, calibration_qconfig, disable_observer,
    ...                               quantize, quantize_qat)
    >>> net = M.Sequential(M.QuantStub(), M.Conv2d(8, 8, 3), M.DequantStub())
    >>> net.eval()
    >>> x = np.random.default_rng(0).normal(size=(4, 8, 6, 6)).astype("float32")
    >>> qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    >>> _ = qat(mge.tensor(x))  # calibrate
    >>> disable_observer(qat)
    >>> report = adaround(qat, x, float_module=net, iters=200, progress=False)
    >>> r = report["1"]
    >>> r.error <= r.nearest_error
    True
    >>> q = quantize(qat, inplace=False)  # the learned codes, in MegEngine's int8 format
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import functional as F
from ..dtype import code_zero_point, get_scale, is_quantize, quantized_range
from ..module import Module
from ..module import qat as QAT
from ..tensor import Parameter, Tensor
from .bias_correction import _as_batches
from .clipped_outputs import kept_output_ranges
from .layer_stats import LayerStats, conv_columns
from .quantize import quantize

_ZETA, _GAMMA = 1.1, -0.1
_CHUNK = 1 << 24  # im2col elements gathered at once (64 MiB of float32)


@dataclass
class RoundingResult:
    """What :func:`adaround` did to one layer: the mean squared output error per
    calibration column (summed over output channels) with nearest and with the chosen
    rounding, and how many weights were rounded the other way."""

    nearest_error: float
    error: float
    flipped: int
    weights: int


def _targets(module: Module) -> list[tuple[str, Module]]:
    """The QAT Conv2d/Linear modules with a symmetric quantized weight."""
    out = []
    for name, m in module.named_modules():
        if not isinstance(m, (QAT.Conv2d, QAT.Linear)) or not m.with_weight:
            continue
        dtype = m.get_weight_dtype()
        if dtype is None or not is_quantize(dtype):
            continue
        if code_zero_point(dtype) != 0:
            continue
        if isinstance(m, QAT.Conv2d) and (m.padding_mode != "zeros"
                                          or m.conv_mode != "cross_correlation"):
            continue
        out.append((name, m))
    return out


def _blocks(module: Module) -> np.ndarray:
    """The weight as ``(groups, out per group, K)`` in float64 (a grouped Conv2d weight is
    ``(groups, out per group, in per group, kh, kw)``, the others ``(out, ...)``)."""
    w = module.weight.numpy().astype(np.float64)
    if w.ndim == 5:
        return w.reshape(w.shape[0], w.shape[1], -1)
    return w.reshape(1, w.shape[0], -1)


def _columns(module: Module, x: np.ndarray) -> Iterator[np.ndarray]:
    """The layer's input columns ``(groups, K, M)`` (float64) in chunks of a bounded size."""
    if isinstance(module, QAT.Linear):
        yield x.reshape(-1, x.shape[-1]).T[None].astype(np.float64)
        return
    kh, kw = (module.kernel_size,) * 2 if isinstance(module.kernel_size, int) else \
        module.kernel_size
    per_sample = x.shape[1] * kh * kw * x.shape[2] * x.shape[3]
    step = max(1, _CHUNK // max(per_sample, 1))
    for i in range(0, len(x), step):
        yield conv_columns(x[i:i + step], module.kernel_size, module.groups, module.stride,
                           module.padding, module.dilation).astype(np.float64)


def collect_stats(qat_module: Module, batches: list[np.ndarray], targets: list[tuple[str, Module]],
                  float_module: Module | None = None,
                  kept: dict[str, tuple[float, float]] | None = None) -> dict[str, LayerStats]:
    """:class:`~.layer_stats.LayerStats` of every target over ``batches``: its input in
    ``quantize(qat_module)`` (the integer network MegEngine Lite runs, dequantized) and,
    where ``float_module`` is given, in the float network (None: the quantized input
    stands for both); ``kept``: the output ranges of :func:`_stats` per layer name."""
    kept = kept or {}
    floats = dict(float_module.named_modules()) if float_module is not None else {}
    for name, _ in targets:
        if float_module is not None and name not in floats:
            raise ValueError(f"adaround: QAT module {name!r} has no float module of that name")
    quantized = quantize(qat_module, inplace=False)
    quantized.eval()
    qmods = dict(quantized.named_modules())
    geometry = dict(targets)
    stats: dict[str, LayerStats] = {}
    float_inputs: dict[str, np.ndarray] = {}

    def keep_float(name: str, inputs: tuple) -> None:
        float_inputs[name] = inputs[0].numpy()

    def gather(name: str, inputs: tuple) -> None:
        x = inputs[0]
        xq = (F.elemwise.dequantize(x) if is_quantize(x.dtype) else x).numpy()
        stats[name] = _stats(geometry[name], xq, float_inputs.pop(name, None),
                             kept.get(name), stats.get(name))

    handles = []
    try:
        for name, _ in targets:
            if float_module is not None:
                handles.append(floats[name].register_forward_pre_hook(
                    lambda mod, inp, name=name: keep_float(name, inp)))
            handles.append(qmods[name].register_forward_pre_hook(
                lambda mod, inp, name=name: gather(name, inp)))
        for batch in batches:
            if float_module is not None:
                float_module(Tensor(batch))
            quantized(Tensor(batch))
    finally:
        for h in handles:
            h.remove()
    return stats


def _float_inputs(float_module: Module, data: np.ndarray, names: list[str]
                  ) -> dict[str, np.ndarray]:
    """Every named module's input in ``float_module(data)``, kept in float16 (its rounding,
    about 5e-4, is far below int8's)."""
    floats = dict(float_module.named_modules())
    missing = [n for n in names if n not in floats]
    if missing:
        raise ValueError(f"adaround: QAT module {missing[0]!r} has no float module of that name")
    kept: dict[str, np.ndarray] = {}
    handles = [floats[n].register_forward_pre_hook(
        lambda mod, inp, n=n: kept.__setitem__(n, inp[0].numpy().astype(np.float16)))
        for n in names]
    try:
        float_module(Tensor(data))
    finally:
        for h in handles:
            h.remove()
    return kept


def _round_in_order(qat_module: Module, batches: list[np.ndarray],
                    targets: list[tuple[str, Module]], float_module: Module | None,
                    round_one: Callable[[str, Module, LayerStats], RoundingResult],
                    progress: bool, kept: dict[str, tuple[float, float]]
                    ) -> dict[str, RoundingResult]:
    """Run ``quantize(qat_module)`` once over all of ``batches``; at each target, before it
    runs, gather its statistics from its actual (already re-rounded upstream) input
    (``kept``: the output ranges of :func:`_stats` per layer name), round it with
    ``round_one`` and give the running quantized layer the new codes."""
    from tqdm import tqdm

    data = np.concatenate(batches)
    names = [n for n, _ in targets]
    floats = _float_inputs(float_module, data, names) if float_module is not None else {}
    quantized = quantize(qat_module, inplace=False)
    quantized.eval()
    qmods = dict(quantized.named_modules())
    geometry = dict(targets)
    results: dict[str, RoundingResult] = {}
    bar = tqdm(total=len(targets), desc="adaround", disable=not progress)

    def visit(name: str, inputs: tuple) -> None:
        x = inputs[0]
        xq = (F.elemwise.dequantize(x) if is_quantize(x.dtype) else x).numpy()
        xf = floats.pop(name, None)
        stats = _stats(geometry[name], xq, None if xf is None else xf.astype(np.float32),
                       kept.get(name))
        results[name] = round_one(name, geometry[name], stats)
        qat_m, q = geometry[name], qmods[name]
        q.weight = Parameter(qat_m.weight.astype(qat_m.get_weight_dtype()).numpy(),
                             name=q.weight.name)
        bar.update()

    handles = [qmods[n].register_forward_pre_hook(lambda mod, inp, n=n: visit(n, inp))
               for n in names]
    try:
        quantized(Tensor(data))
    finally:
        for h in handles:
            h.remove()
        bar.close()
    return results


def _kept_mask(module: Module, cols_f: np.ndarray, kept: tuple[float, float] | None
               ) -> np.ndarray | None:
    """``(groups, M)``: where the float output ``W x + b`` of a layer with one output
    channel per group (a depthwise conv) lies inside ``kept`` (None: no mask, also for
    layers with several outputs per group, whose columns are shared)."""
    w = _blocks(module)
    if kept is None or w.shape[1] != 1:
        return None
    y = np.matmul(w, cols_f)[:, 0, :]
    if module.bias is not None:
        y += module.bias.numpy().astype(np.float64).reshape(-1, 1)
    return (y > kept[0]) & (y < kept[1])


def _stats(module: Module, xq: np.ndarray, xf: np.ndarray | None,
           kept: tuple[float, float] | None = None, into: LayerStats | None = None
           ) -> LayerStats:
    """The layer's :class:`LayerStats` over inputs ``xq`` (quantized) and ``xf`` (float;
    None: ``xq``), added to ``into`` when given; ``kept``: count a depthwise conv's
    output positions only where its float output lies in that range."""
    stats = into
    cols_f = _columns(module, xf) if xf is not None else None
    for cq in _columns(module, xq):
        cf = cq if cols_f is None else next(cols_f)
        if stats is None:
            stats = LayerStats.zeros(cq.shape[0], cq.shape[1])
        stats.add(cq, cf, _kept_mask(module, cf, kept))
    assert stats is not None
    return stats


def _soft(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``h(V)`` and ``dh/dV``."""
    sig = 1.0 / (1.0 + np.exp(-v))
    h = sig * (_ZETA - _GAMMA) + _GAMMA
    grad = np.where((h > 0) & (h < 1), sig * (1 - sig) * (_ZETA - _GAMMA), 0.0)
    return np.clip(h, 0.0, 1.0), grad


def round_layer(w: np.ndarray, scale: float, qmin: int, qmax: int, stats: LayerStats,
                iters: int = 1000, reg_weight: float = 0.01,
                beta: tuple[float, float] = (20.0, 2.0), warmup: float = 0.2,
                lr: float = 0.01, row_weights: np.ndarray | None = None) -> np.ndarray:
    """AdaRound codes (``int``, the shape of ``w``: ``(groups, out per group, K)``) of one
    layer's weights ``w`` at ``scale``, learned on ``stats``; each is ``floor(w / scale)``
    or one more, clipped to ``[qmin, qmax]``. ``row_weights`` ``(groups, out per
    group)``: each output channel's output error counts that many times against the
    regularizer (None: once)."""
    x = w / scale
    base = np.floor(x)
    rest = np.clip((x - base - _GAMMA) / (_ZETA - _GAMMA), 1e-4, 1 - 1e-4)
    v = np.log(rest / (1 - rest)).astype(np.float32)
    n = max(stats.count, 1)
    quad = (stats.quant / n).astype(np.float32)
    target = np.matmul(w, stats.cross.transpose(0, 2, 1) / n).astype(np.float32)
    base32 = base.astype(np.float32)
    weight = np.float32(2.0 * scale) if row_weights is None else \
        (2.0 * scale * row_weights[..., None]).astype(np.float32)
    m, s2 = np.zeros_like(v), np.zeros_like(v)
    b1, b2, eps = 0.9, 0.999, 1e-8
    start = int(warmup * iters)
    for t in range(iters):
        h, dh = _soft(v)
        q = base32 + h
        inside = (q >= qmin) & (q <= qmax)
        wq = np.clip(q, qmin, qmax) * np.float32(scale)
        grad = (np.matmul(wq, quad) - target) * weight * inside
        if t >= start:
            rel = (t - start) / max(iters - start, 1)
            b = beta[1] + (beta[0] - beta[1]) * max(0.0, 1.0 - rel)
            d = 2 * h - 1
            grad = grad - reg_weight * 2 * b * np.abs(d) ** (b - 1) * np.sign(d)
        grad = grad * dh
        m = b1 * m + (1 - b1) * grad
        s2 = b2 * s2 + (1 - b2) * grad * grad
        v -= lr * (m / (1 - b1 ** (t + 1))) / (np.sqrt(s2 / (1 - b2 ** (t + 1))) + eps)
    h, _ = _soft(v)
    return np.clip(base + (h >= 0.5), qmin, qmax).astype(np.int64)


def _channel_weights(near_rows: np.ndarray) -> np.ndarray:
    """Per-channel objective weights that give every output channel's nearest-rounding
    error the layer's mean one (a channel's error floored at 1e-3 of the mean)."""
    mean = float(near_rows.mean())
    if mean <= 0.0:
        return np.ones_like(near_rows)
    return mean / np.maximum(near_rows, 1e-3 * mean)


def _round_module(name: str, m: Module, stats: LayerStats, iters: int, reg_weight: float,
                  beta: tuple[float, float], warmup: float, lr: float,
                  per_channel: bool = False) -> RoundingResult:
    """Round one QAT module's weight by :func:`round_layer` (its nearest codes where those
    do not lose: per layer, or per output channel with each channel's objective
    normalized if ``per_channel``) and write it back as ``code * scale``."""
    dtype = m.get_weight_dtype()
    scale = float(get_scale(dtype))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"adaround: {name!r} has weight scale {scale} (calibrate first)")
    qmin, qmax = quantized_range(dtype)
    w = _blocks(m)
    nearest = np.clip(np.round(w / scale), qmin, qmax)
    near_rows = stats.row_errors(nearest * scale, w)
    near_err = float(near_rows.sum())
    codes = round_layer(w, scale, qmin, qmax, stats, iters, reg_weight, beta, warmup, lr,
                        _channel_weights(near_rows) if per_channel else None)
    if per_channel:
        worse = stats.row_errors(codes * scale, w) >= near_rows
        codes = np.where(worse[..., None], nearest.astype(np.int64), codes)
    err = stats.error(codes * scale, w)
    if err >= near_err:
        codes, err = nearest.astype(np.int64), near_err
    shape = m.weight.shape
    new = (codes.astype(np.float32) * np.float32(scale)).reshape(shape)
    if not np.array_equal(np.clip(np.round(new / np.float32(scale)), qmin, qmax),
                          codes.reshape(shape)):
        raise ValueError(f"adaround: {name!r}: codes do not survive float32 at scale {scale}")
    m.weight[...] = Tensor(new)
    return RoundingResult(near_err, err, int((codes != nearest).sum()), int(codes.size))


def adaround(
    qat_module: Module, data: Any, float_module: Module | None = None, iters: int = 1000,
    reg_weight: float = 0.01, beta: tuple[float, float] = (20.0, 2.0), warmup: float = 0.2,
    lr: float = 0.01, sequential: bool = True, masked: bool = False, progress: bool = True,
    per_channel: bool = False,
) -> dict[str, RoundingResult]:
    """Learn the rounding of every QAT ``Conv2d``/``Linear`` weight on ``data`` and write
    the weights back as ``code * scale``, in place (mge's own PTQ step: AdaRound).

    Call it after calibration (the weight and activation scales fixed; observers are
    disabled for its own pass) and before :func:`~.quantize`.

    Args:
        qat_module: a calibrated QAT network.
        data: calibration input: one array/Tensor or a sequence of batches (a few dozen
            samples; every target layer's input passes through memory once per batch).
        float_module: the float network ``qat_module`` came from (modules paired by
            name); each layer then learns to reproduce the float layer's output from its
            quantized input. None: its own quantized input through the float weights.
        iters: Adam steps per layer.
        reg_weight, beta, warmup: the rounding regularizer's weight, its exponent's
            start and end, and the fraction of ``iters`` before it applies.
        lr: Adam's step size on ``V``.
        sequential: round the layers in the order the network runs them, each on its
            input through the layers rounded before it (one pass of the quantized
            network over all of ``data`` at once); False: every layer on its input
            through nearest-rounded layers (one pass per batch).
        masked: a depthwise conv's error counts, per channel, only at the output
            positions whose float value survives its int8 output and the ReLU/ReLU6
            after it (:func:`~.clipped_outputs.kept_output_ranges`); elsewhere the
            quantized network saturates to the same value.
        progress: show a progress bar over the layers.
        per_channel: weigh each output channel's error by the inverse of its error with
            nearest rounding (every channel then counts alike against the regularizer,
            not only the loud ones) and keep the nearest codes per channel where the
            learned ones do not lower that channel's error.

    Returns:
        ``{layer name: RoundingResult}``.

    Raises:
        ValueError: no data, a layer with no float module of its name, or a weight scale
            the observer has not set.
    """
    from tqdm import tqdm

    batches = _as_batches(data)
    targets = _targets(qat_module)

    def round_one(name: str, m: Module, stats: LayerStats) -> RoundingResult:
        return _round_module(name, m, stats, iters, reg_weight, beta, warmup, lr, per_channel)

    kept = kept_output_ranges(qat_module, Tensor(batches[0][:1])) if masked else {}
    if sequential:
        return _round_in_order(qat_module, batches, targets, float_module, round_one,
                               progress, kept)
    stats = collect_stats(qat_module, batches, targets, float_module, kept)
    return {name: round_one(name, m, stats[name])
            for name, m in tqdm(targets, desc="adaround", disable=not progress)
            if name in stats}  # else not called on this data


__all__ = ["RoundingResult", "adaround", "collect_stats", "round_layer"]
