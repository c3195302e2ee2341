"""Block reconstruction: AdaRound's learned rounding optimized per block of layers against
the float block's output (BRECQ, Li et al. 2021), optionally with QDrop's random dropping
of activation quantization (Wei et al. 2022); mge's own PTQ step, MegEngine 1.13 has none.

Layer-wise AdaRound (:func:`~.adaround`) makes each layer's output close to the float
layer's; it cannot trade one layer's rounding against the next one's. Here the rounding
variables ``V`` of every ``Conv2d`` of a block (:func:`~.block_graph.split_blocks`: an
inverted-residual block of MobileNetV2) are learned together by Adam on the squared error
of the block's fake-quantized output (every activation at its calibrated int8 scale,
:class:`~.block_graph.TorchBlock`, run in torch) against the float block's output on the
float network's input, plus AdaRound's regularizer ``sum(1 - |2h - 1|^beta)`` (``beta``
annealed from 20 to 2). Each step sees ``batch`` random ``patch x patch`` windows of the
block's inputs (convolutions are local, so a window is a sample of the same map at a
fraction of the cost). ``drop`` (QDrop): each value of the block's input and of each
activation inside it keeps its float value with that probability during the optimization,
which flattens the loss the final (all quantized) network sees. The blocks are learned in
order, each on the quantized output of the blocks before it; a block keeps its nearest
codes where the learned ones do not lower its output error on the calibration data.

The weights are written back as ``code * scale`` (the weight observer's per-tensor scale),
so :func:`~.quantize` stores exactly the learned codes: the format (per-tensor qint8,
what MegEngine Lite runs) and the dump are unchanged. Needs torch.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import (calibration_qconfig, disable_observer, quantize,
    ...                               quantize_qat)
    >>> from mge.quantization.block_reconstruction import Step, reconstruct_blocks
    >>> net = M.Sequential(M.QuantStub(), M.Conv2d(4, 8, 1), M.Elemwise("relu6"),
    ...                    M.Conv2d(8, 4, 3, padding=1), M.DequantStub())
    >>> net.eval()
    >>> x = np.random.default_rng(0).normal(size=(4, 4, 8, 8)).astype("float32")
    >>> qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    >>> _ = qat(mge.tensor(x))  # calibrate
    >>> disable_observer(qat)
    >>> steps = [Step("1", ("x",), "a"), Step("2", ("a",), "b"), Step("3", ("b",), "c")]
    >>> report = reconstruct_blocks(qat, x, steps, {"x": "0"}, iters=50, progress=False)
    >>> r = report[0]
    >>> r.error <= r.nearest_error
    True
    >>> q = quantize(qat, inplace=False)  # the learned codes, in MegEngine's int8 format
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..module import Module
from ..tensor import Tensor
from .bias_correction import _as_batches
from .block_graph import (
    SoftWeight,
    Step,
    TorchBlock,
    activation_scale,
    fake_quant,
    split_blocks,
    weight_of,
)

_ZETA, _GAMMA = 1.1, -0.1
_CHUNK = 8  # samples per full-size forward pass


@dataclass
class BlockResult:
    """What :func:`reconstruct_blocks` did to one block: its convs, the mean squared output
    error per output position (summed over channels) on the calibration data with nearest
    and with the chosen rounding, how many weights were rounded the other way, and the CPU
    seconds it took."""

    layers: list[str]
    nearest_error: float
    error: float
    flipped: int
    weights: int
    seconds: float


def _h(torch: Any, v: Any) -> Any:
    return torch.clamp(torch.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0.0, 1.0)


def _windows(torch: Any, values: Mapping[str, Any], idx: np.ndarray, patch: int,
             rng: np.random.Generator) -> tuple[dict[str, Any], ...]:
    """``values`` (name -> ``(float, quantized)`` tensors ``(N, C, H, W)``) at samples
    ``idx``, each cut to a random ``patch x patch`` window at an even offset when all
    inputs share a spatial size larger than ``patch``."""
    sizes = {tuple(f.shape[2:]) for f, _ in values.values()}
    h, w = next(iter(sizes))
    cut = len(sizes) == 1 and min(h, w) > patch
    fl: dict[str, list[Any]] = {n: [] for n in values}
    qu: dict[str, list[Any]] = {n: [] for n in values}
    for i in idx:
        top = 2 * rng.integers((h - patch) // 2 + 1) if cut else 0
        left = 2 * rng.integers((w - patch) // 2 + 1) if cut else 0
        rows = slice(top, top + patch) if cut else slice(None)
        cols = slice(left, left + patch) if cut else slice(None)
        for n, (f, q) in values.items():
            fl[n].append(f[i, :, rows, cols])
            qu[n].append(q[i, :, rows, cols])
    return ({n: torch.stack(v) for n, v in fl.items()},
            {n: torch.stack(v) for n, v in qu.items()})


def _learn(torch: Any, block: TorchBlock, sws: list[SoftWeight], values: Mapping[str, Any],
           iters: int, batch: int, patch: int, drop: float, reg_weight: float,
           beta: tuple[float, float], warmup: float, lr: float,
           rng: np.random.Generator) -> None:
    """Adam on the ``V`` of ``sws`` against the block's float output (see the module)."""
    opt = torch.optim.Adam([sw.v for sw in sws], lr=lr)
    n = next(iter(values.values()))[0].shape[0]
    start = int(warmup * iters)
    for t in range(iters):
        xf, xq = _windows(torch, values, rng.choice(n, size=min(batch, n), replace=False),
                          patch, rng)
        with torch.no_grad():
            target = block.run(xf)
        if drop > 0.0:
            xq = {k: torch.where(torch.rand_like(q) < drop, xf[k], q) for k, q in xq.items()}
        out = block.run(xq, {sw.name: weight_of(torch, sw, lambda v: _h(torch, v))
                             for sw in sws}, drop)
        loss = ((out - target) ** 2).sum(1).mean()
        if t >= start:
            rel = (t - start) / max(iters - start, 1)
            b = beta[1] + (beta[0] - beta[1]) * max(0.0, 1.0 - rel)
            loss = loss + reg_weight * sum(
                (1 - torch.abs(2 * _h(torch, sw.v) - 1) ** b).sum() for sw in sws)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _full_pass(torch: Any, block: TorchBlock, values: Mapping[str, Any],
               weights: Mapping[str, Any] | None, which: int) -> Any:
    """The block over all samples in chunks (``which``: 0 float inputs, 1 quantized)."""
    n = next(iter(values.values()))[0].shape[0]
    with torch.no_grad():
        return torch.cat([block.run({k: v[which][i:i + _CHUNK] for k, v in values.items()},
                                    weights) for i in range(0, n, _CHUNK)])


def _error(torch: Any, out: Any, target: Any) -> float:
    return float(((out - target) ** 2).sum(1).mean())


def _write_back(module: Module, codes: Any, scale: float, name: str) -> None:
    """Give ``module`` the weight ``codes * scale`` in its own layout, checking that the
    codes survive float32 at ``scale``."""
    shape = module.weight.shape
    new = (codes.numpy().astype(np.float32) * np.float32(scale)).reshape(shape)
    if not np.array_equal(np.round(new / np.float32(scale)), codes.numpy().reshape(shape)):
        raise ValueError(f"reconstruct_blocks: {name!r}: codes do not survive float32 at "
                         f"scale {scale}")
    module.weight[...] = Tensor(new)


def reconstruct_blocks(
    qat_module: Module, data: Any, steps: list[Step], inputs: Mapping[str, str],
    iters: int = 500, batch: int = 8, patch: int = 28, drop: float = 0.0,
    reg_weight: float = 0.01, beta: tuple[float, float] = (20.0, 2.0), warmup: float = 0.2,
    lr: float = 0.01, seed: int = 0, progress: bool = True,
) -> list[BlockResult]:
    """Learn the rounding of every ``Conv2d`` weight of ``qat_module`` block by block on
    ``data`` and write the weights back as ``code * scale``, in place.

    Call it after calibration (scales fixed, observers disabled) and before
    :func:`~.quantize`, in place of :func:`~.adaround`.

    Args:
        qat_module: a calibrated QAT network whose convs still hold the float weights.
        data: calibration input: one array/Tensor or a sequence of batches.
        steps: the network's module calls in order (:class:`~.block_graph.Step`; module
            names as ``qat_module.named_modules()`` gives them): ``Conv2d``, ``Pad`` and
            ``Elemwise`` relu/relu6/add.
        inputs: the network's input tensor name -> the name of the ``QuantStub`` that
            quantizes it (``data`` is that input).
        iters: Adam steps per block.
        batch, patch: windows per step and their side (at the block's input resolution).
        drop: QDrop's probability of keeping an activation value float (0: BRECQ).
        reg_weight, beta, warmup, lr: as :func:`~.adaround`'s.
        seed: of the windows and the dropping.
        progress: show a progress bar over the blocks.

    Returns:
        A :class:`BlockResult` per block, in order.

    Raises:
        ValueError: an unsupported module, an uncalibrated scale, a weight dtype that is
            not symmetric, or no data.
    """
    import torch
    from tqdm import tqdm

    if len(inputs) != 1:
        raise ValueError(f"reconstruct_blocks: one network input expected, got {list(inputs)}")
    modules = dict(qat_module.named_modules())
    missing = [s.module for s in steps if s.module not in modules] + \
        [m for m in inputs.values() if m not in modules]
    if missing:
        raise ValueError(f"reconstruct_blocks: no module {missing[0]!r} in the QAT network")
    x = torch.as_tensor(np.concatenate([np.asarray(b.numpy() if isinstance(b, Tensor) else b,
                                                   dtype=np.float32)
                                        for b in _as_batches(data)]))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    (name, stub), = inputs.items()
    scales = {name: activation_scale(modules[stub], repr(stub))}
    values = {name: (x, fake_quant(torch, x, scales[name]))}
    last_use = {t: i for i, s in enumerate(steps) for t in s.inputs}
    results = []
    done = 0
    for steps_b in tqdm(split_blocks(steps, modules), desc="blocks", disable=not progress):
        cpu = time.process_time()
        block = TorchBlock(torch, steps_b, modules, scales)
        here = {t: values[t] for t in block.inputs}
        sws = block.soft_weights()
        _learn(torch, block, sws, here, iters, batch, patch, drop, reg_weight, beta, warmup,
               lr, rng)
        target = _full_pass(torch, block, here, None, 0)
        with torch.no_grad():
            nearest = {sw.name: weight_of(torch, sw, None) for sw in sws}
            learned = {sw.name: weight_of(torch, sw, lambda v: (_h(torch, v) >= 0.5).float())
                       for sw in sws}
        outs = {k: _full_pass(torch, block, here, w, 1)
                for k, w in (("nearest", nearest), ("learned", learned))}
        errors = {k: _error(torch, o, target) for k, o in outs.items()}
        pick = "learned" if errors["learned"] < errors["nearest"] else "nearest"
        flipped = 0
        for sw in sws:
            codes = torch.round(learned[sw.name] / sw.scale) if pick == "learned" \
                else sw.nearest
            flipped += int((codes != sw.nearest).sum())
            _write_back(modules[sw.name], codes, sw.scale, sw.name)
        done += len(steps_b)
        values[block.output] = (target, outs[pick])
        values = {t: v for t, v in values.items() if last_use.get(t, -1) >= done}
        results.append(BlockResult([sw.name for sw in sws], errors["nearest"], errors[pick],
                                   flipped, sum(int(sw.v.numel()) for sw in sws),
                                   time.process_time() - cpu))
    return results


__all__ = ["BlockResult", "Step", "reconstruct_blocks"]
