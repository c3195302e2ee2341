"""Cross-layer equalization (mge's own; MegEngine 1.13 has no counterpart).

Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction": for two convolutions joined through positively homogeneous steps (ReLU, zero
padding), ``W2 g(W1 x + b1)`` is unchanged when output channel ``i`` of the first is
divided by ``s_i > 0`` and input channel ``i`` of the second multiplied by it. With
``s_i = sqrt(r1_i * r2_i) / r2_i`` (``r`` the channel's largest absolute weight) both end
with the range ``sqrt(r1_i * r2_i)``, which per-tensor int8 weights (MegEngine's format)
need when BatchNorm folding left channels of very different size.

A channel the second convolution ignores (all its input weights zero; the limit
``s_i -> inf``) is zeroed in the first: BatchNorm-folded networks carry dead channels with
large weights (the real MobileNetV2's first depthwise filters reach 56 on channels the
next 1x1 conv does not read, against about 1 elsewhere), and those alone set the
per-tensor range.

ReLU6 is not positively homogeneous (``relu6(x / s) != relu6(x) / s``). By default
(``relu6="keep"``) a pair joined through ReLU6 only has its ignored channels zeroed,
which is exact; ``relu6="relu"`` replaces such a ReLU6 by ReLU and rescales, as the paper
does, which changes the float network where an activation exceeded 6 (on the real
MobileNetV2 it moves logits by up to 12 and changes a top-1).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import equalize_cross_layer
    >>> net = M.Sequential(M.Conv2d(3, 8, 1), M.ReLU(), M.Conv2d(8, 4, 1))
    >>> x = mge.tensor(np.random.rand(1, 3, 4, 4).astype("float32"))
    >>> before = net(x).numpy()
    >>> equalize_cross_layer(net, x)
    [('0', '2')]
    >>> bool(np.allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import module as Float
from ..module import Module
from ..module import qat as QAT
from ..tensor import Tensor
from .quantize import _places, _replace_child

_RELU6_METHODS = ("RELU6",)
_RELU_METHODS = ("RELU",)


@dataclass
class ModuleCall:
    """One recorded call of a leaf module: its name, module, input and output tensors."""

    name: str
    module: Module
    inputs: list[Tensor] = field(default_factory=list)
    output: Any = None


def _kind(module: Module) -> str | None:
    """``"conv"``, ``"relu"``, ``"relu6"``, ``"pass"`` (channelwise-scale invariant) or None."""
    if isinstance(module, QAT.QATModule):
        return None
    if isinstance(module, Float.Conv2d):
        return "conv"
    if isinstance(module, Float.ReLU):
        return "relu"
    if isinstance(module, Float.ReLU6):
        return "relu6"
    if isinstance(module, Float.Elemwise) and isinstance(module.method, str):
        method = module.method.upper()
        return "relu" if method in _RELU_METHODS else "relu6" if method in _RELU6_METHODS else None
    if isinstance(module, Float.Pad):
        zero_fill = module.mode != "constant" or float(module.pad_val) == 0.0
        return "pass" if zero_fill else None
    if isinstance(module, Float.Identity):
        return "pass"
    return None


def _leaf_or_conv(module: Module) -> bool:
    return _kind(module) == "conv" or next(iter(module.children()), None) is None


def record_calls(module: Module, inputs: tuple[Any, ...],
                 hooked: Callable[[Module], bool] = _leaf_or_conv) -> list[ModuleCall]:
    """Run ``module(*inputs)`` with hooks on the submodules ``hooked`` picks (default: its
    leaf modules and the convs); their calls in order."""
    calls: list[ModuleCall] = []
    handles = []
    names = {id(m): n for n, m in module.named_modules()}
    for sub in module.modules():
        if not hooked(sub):
            continue

        def hook(mod: Module, args: tuple, out: Any) -> None:
            tensors = [a for a in args if isinstance(a, Tensor)]
            calls.append(ModuleCall(names.get(id(mod), "?"), mod, tensors, out))

        handles.append(sub.register_forward_hook(hook))
    try:
        module(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def tensor_users(calls: list[ModuleCall]) -> dict[int, list[ModuleCall]]:
    """The calls that take each tensor (by ``id``) as an input; a call that returns its
    input itself (a float quantization stub, ``Identity``, an observing QAT stub) is no
    user of it: the tensor reaches the next module unchanged."""
    users: dict[int, list[ModuleCall]] = {}
    for call in calls:
        for t in call.inputs:
            if t is not call.output:
                users.setdefault(id(t), []).append(call)
    return users


def _chains(calls: list[ModuleCall]) -> Iterator[tuple[ModuleCall, list[ModuleCall], ModuleCall]]:
    """``(first conv, steps between, second conv)`` where the first conv's output reaches
    the second only through ReLU, ReLU6 or channelwise-scale-invariant steps, each result
    used by one module."""
    users = tensor_users(calls)
    for call in calls:
        if _kind(call.module) != "conv":
            continue
        steps: list[ModuleCall] = []
        current = call
        while True:
            after = users.get(id(current.output), [])
            if len(after) != 1 or len(after[0].inputs) != 1:
                break
            nxt = after[0]
            kind = _kind(nxt.module)
            if kind == "conv":
                yield call, steps, nxt
                break
            if kind is None or nxt in steps or nxt.output is current.output:
                break
            steps.append(nxt)
            current = nxt


def _out_view(w: np.ndarray) -> np.ndarray:
    """``(out channels, -1)`` view of a Conv2d weight (grouped or not)."""
    return w.reshape(w.shape[0] * (w.shape[1] if w.ndim == 5 else 1), -1)


def _in_ranges(w: np.ndarray) -> np.ndarray:
    """Largest absolute weight of each input channel of a Conv2d weight."""
    g = w if w.ndim == 5 else w[None]
    return np.abs(g).max(axis=(1, 3, 4)).reshape(-1)


def _scale_in(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Multiply input channel ``i`` of a Conv2d weight by ``s[i]``."""
    g = w if w.ndim == 5 else w[None]
    out = g * s.reshape(g.shape[0], 1, g.shape[2], 1, 1)
    return out if w.ndim == 5 else out[0]


def _equalize_pair(first: Module, second: Module, rescale: bool,
                   bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> np.ndarray:
    """Rescale one pair in place (only zero the ignored channels unless ``rescale``);
    return the channel scales ``s`` (the first conv's output channel ``i`` is divided by
    ``s[i]``). ``bounds``: ``(lowest, highest, total)`` per channel: the product of every
    scale applied so far (``total``, updated) is kept within ``[lowest, highest]``."""
    w1, w2 = first.weight.numpy(), second.weight.numpy()
    r1 = np.abs(_out_view(w1)).max(axis=1)
    r2 = _in_ranges(w2)
    if r1.shape != r2.shape:
        raise ValueError(
            f"equalize_cross_layer: {type(first).__name__} has {r1.size} output channels "
            f"but the next {type(second).__name__} takes {r2.size}"
        )
    live = (r1 > 0) & (r2 > 0) & rescale
    s = np.ones_like(r1)
    s[live] = np.sqrt(r1[live] * r2[live]) / r2[live]
    if bounds is not None:
        lowest, highest, total = bounds
        s = (np.clip(total * s, lowest, highest) / total).astype(r1.dtype)
        total *= s
    # the limit s -> inf of a channel the second conv ignores: zero it in the first, so
    # that its (often large, BatchNorm-folded) weights stop setting the per-tensor range
    keep = (r2 > 0).astype(w1.dtype)
    first.weight[...] = Tensor((_out_view(w1) * (keep / s)[:, None]).reshape(w1.shape))
    if first.bias is not None:
        b = first.bias.numpy()
        first.bias[...] = Tensor((b.reshape(-1) * keep / s).reshape(b.shape))
    second.weight[...] = Tensor(_scale_in(w2, s).astype(w2.dtype))
    return s


def _relu6_bounds(output: Tensor, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scales ``s`` (output channel divided by ``s``) that keep ``relu6`` exact on the
    channels' observed pre-activation peaks with a ``margin``: a channel that stays below
    ``6 / margin`` may be divided by any ``s >= margin * peak / 6``; one that reaches it,
    by 1 only."""
    x = output.numpy()
    peak = np.maximum(x.max(axis=(0, *range(2, x.ndim))), 0.0).astype(np.float64)
    free = margin * peak <= 6.0
    lowest = np.where(free, margin * peak / 6.0, 1.0)
    highest = np.where(free, np.inf, 1.0)
    return lowest, highest, np.ones_like(peak)


def _outputs(value: Any) -> list[np.ndarray]:
    if isinstance(value, Tensor):
        return [value.numpy()]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _outputs(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _outputs(v)]
    return []


def equalize_cross_layer(
    module: Module, *example_inputs: Any, relu6: str = "keep", iterations: int = 100,
    tolerance: float = 1e-4, margin: float = 1.25,
) -> list[tuple[str, str]]:
    """Equalize the per-channel weight ranges of consecutive ``Conv2d`` pairs in place
    (mge's own: cross-layer equalization of Nagel et al. 2019), before PTQ calibration;
    channels the next conv ignores are zeroed.

    The pairs are found by running ``module(*example_inputs)`` once with hooks on its
    leaf modules: the first conv's output must reach the second conv only through
    ``M.ReLU``/``M.ReLU6``/``M.Elemwise("relu"|"relu6")``, ``M.Pad`` (zero fill) or
    ``M.Identity``, each result used by one module. A second run checks that the outputs
    are unchanged (so a tensor also used by a functional op in ``forward`` is caught).

    Args:
        module: a float network (BatchNorm folded; not yet ``quantize_qat``-converted).
        example_inputs: arguments of one forward call.
        relu6: ``"keep"``: across a ReLU6 only zero the channels the second conv
            ignores (exact); ``"relu"``: replace that ReLU6 by ReLU and rescale too (the
            paper's choice; changes the float network); ``"data"``: rescale only as far
            as keeps ReLU6 exact on ``example_inputs`` (a channel whose pre-activation
            peak ``p`` there stays below ``6 / margin`` may grow up to ``6 / (margin *
            p)`` times or shrink freely; one reaching it is left alone). Exact on the
            example data, so give it the calibration batch; on other data a channel
            beyond its margin is clipped at 6.
        margin: the headroom of ``relu6="data"`` (>= 1).
        iterations: passes over all pairs (a conv between two pairs moves both).
        tolerance: stop once no channel scale is further than this from 1 (in log).

    Returns:
        The pairs found, as ``(first conv name, second conv name)``.

    Raises:
        ValueError: ``relu6`` unknown, channel counts that do not match, or outputs that
            changed (the weights are restored first).
    """
    if relu6 not in ("relu", "keep", "data"):
        raise ValueError(
            f"equalize_cross_layer: relu6 must be 'relu', 'keep' or 'data', got {relu6!r}")
    if margin < 1.0:
        raise ValueError(f"equalize_cross_layer: margin must be >= 1, got {margin}")
    chains = list(_chains(record_calls(module, example_inputs)))
    places = _places(module)
    pairs = []
    for first, steps, second in chains:
        relu6_steps = [step for step in steps if _kind(step.module) == "relu6"]
        if relu6 == "relu":
            for step in relu6_steps:
                if isinstance(step.module, Float.Elemwise):
                    step.module.method = "relu"
                else:
                    parent, key = places[id(step.module)]
                    _replace_child(parent, key, Float.ReLU())
        bounds = (_relu6_bounds(first.output, margin) if relu6 == "data" and relu6_steps
                  else None)
        pairs.append((first.module, second.module, relu6 != "keep" or not relu6_steps,
                      bounds))
    saved = [(m, m.weight.numpy().copy(), None if m.bias is None else m.bias.numpy().copy())
             for pair in pairs for m in pair[:2]]
    reference = _outputs(module(*example_inputs))
    for _ in range(iterations):
        moved = 0.0
        for first, second, rescale, bounds in pairs:
            s = _equalize_pair(first, second, rescale, bounds)
            moved = max(moved, float(np.abs(np.log(s)).max()) if s.size else 0.0)
        if moved < tolerance:
            break
    result = _outputs(module(*example_inputs))
    for ref, got in zip(reference, result):
        scale = max(float(np.abs(ref).max()), 1e-6)
        if got.shape != ref.shape or float(np.abs(got - ref).max()) > 1e-3 * scale:
            for m, w, b in saved:
                m.weight[...] = Tensor(w)
                if b is not None:
                    m.bias[...] = Tensor(b)
            raise ValueError(
                "equalize_cross_layer: the equalized network's output differs from the "
                f"original's ({float(np.abs(got - ref).max()):.3g} against {scale:.3g}): a "
                "tensor between two convolutions is also used outside the hooked modules "
                "(a functional op in forward); weights restored"
            )
    return [(a.name, b.name) for a, _, b in chains]


__all__ = ["equalize_cross_layer"]
