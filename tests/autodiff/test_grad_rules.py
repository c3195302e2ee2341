"""Every op-table case of an op with a gradient rule: the tape's gradients against
central finite differences of the numpy kernels in float64, and (torch backend) against
torch.autograd through the torch kernels. Ops without a rule must refuse, naming the op.
"""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.autodiff import GradManager
from mge.backends import (
    available_backends,
    get_default_backend,
    load_backend,
    set_default_backend,
)
from mge.core.apply import apply
from mge.ops.conv import ConvolutionBackwardFilter
from mge.ops.elemwise import Elemwise
from mge.ops.nn import BatchNormForward, GeneralNorm, GroupNorm, InstanceNorm, LayerNorm
from mge.ops.quantized.fake_quant import LSQ, TQT, FakeQuant
from mge.ops.shape import CondTake, Reshape
from mge.ops.vision import ResizeForward, WarpPerspectiveForward
from mge.ops.vision.detection import ROIAlignForward, ROIPoolingForward
from mge.ops.vision.remap import WarpAffineForward

from ..ops.test_op_table import CASES

#: outputs a rule differentiates when not all float outputs (y, not the statistics)
GRAD_OUTPUTS = {BatchNormForward: (5,), LayerNorm: (0,), GroupNorm: (0,), InstanceNorm: (0,),
                GeneralNorm: (0,)}
#: inputs a rule may leave without a gradient: (op class, mode or None) -> input indices
NO_GRAD_INPUTS = {
    (BatchNormForward, None): (3, 4),
    (ConvolutionBackwardFilter, None): (2,),  # the filter only gives the shape
    (ROIAlignForward, None): (1,),  # rois get no gradient, as in MegEngine
    (ROIPoolingForward, None): (1,),
    (CondTake, None): (1,),  # the mask selects: no gradient
    (Reshape, None): (1,),  # a shape input (int, or MegEngine's float form) gives the shape
    (ResizeForward, None): (1,),  # likewise the output size
    (Elemwise, "CLIP"): (1, 2),
    (Elemwise, "SWITCH_GT0"): (0,),
    **{(Elemwise, m): (0,) for m in ("CEIL", "FLOOR", "ROUND", "SIGN")},
}
#: (op class, input) -> finite-difference step where 1e-3 crosses kinks: a warp matrix's
#: perspective entries move sample positions by step * x * aw, over pixel borders
FD_STEPS = {(WarpPerspectiveForward, 1): 1e-4, (WarpAffineForward, 1): 1e-4}
#: (case id, input) whose finite differences cross kinks at every usable step (float32
#: kernels): the matrices of these reflecting or wrapping warps sample far outside the
#: image; test_grad_oracle checks these gradients against MegEngine's instead
FD_KINKS = {("Warp-NCHW-float32-REFLECT", 1), ("Warp-NCHW-float32-REFLECT_101", 1),
            ("Warp-NCHW-float32-WRAP", 1)}

#: cases at a point where the op is not differentiable (finite differences average the
#: two sides there): case id -> why
KINKS = {"Argsort-desc-ties": "tied values: the sorted order switches at the point",
         "Correlation-k3-d2-s21-p2-False": "two compared values differ by 0.00057, less than "
                                           "the step: |data1 - data2| has its kink there"}


def _usable(case) -> bool:
    """float32 cases of moderate values (kernels computing in float32 inside make finite
    differences meaningless at magnitudes like 1000)."""
    return (any(x.dtype == np.float32 for x in case.inputs)
            and all(x.dtype != np.float16 and x.size for x in case.inputs)
            and all(np.abs(x).max() < 100 for x in case.inputs if x.dtype.kind == "f"))


def _weights(case, outs) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(1)
    wanted = GRAD_OUTPUTS.get(type(case.op), range(len(outs)))
    return {k: rng.uniform(-1, 1, outs[k].shape).astype(np.float32) for k in wanted
            if outs[k].dtype == np.float32 and outs[k].size}


def _tape_grads(case, weights=None):
    tensors = [mge.tensor(x) for x in case.inputs]
    float_in = [t for t in tensors if t.dtype.kind == "f"]
    gm = GradManager().attach(float_in)
    with gm:
        outs = apply(case.op, *tensors)
        weights = weights if weights is not None else _weights(case, outs)
        gm.backward([outs[k] for k in weights], [mge.tensor(w) for w in weights.values()])
    return [t.grad.numpy() if t.grad is not None else None for t in tensors], weights


def _numeric_grad(case, k: int, weights: dict[int, np.ndarray], h: float = 1e-3) -> np.ndarray:
    backend = load_backend("numpy")
    arrays = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in case.inputs]

    def loss(xk: np.ndarray) -> float:
        outs = backend.run(case.op, [*arrays[:k], xk, *arrays[k + 1:]])
        outs = outs if isinstance(outs, tuple) else (outs,)
        return sum(float(np.sum(np.asarray(outs[j], np.float64) * w)) for j, w in weights.items())

    x = arrays[k]
    grad = np.zeros_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[i] += h
        down.flat[i] -= h
        grad.flat[i] = (loss(up) - loss(down)) / (2 * h)
    return grad


def _allowed_none(case) -> tuple[int, ...]:
    op = case.op
    return NO_GRAD_INPUTS.get((type(op), getattr(op, "mode", None)),
                              NO_GRAD_INPUTS.get((type(op), None), ()))


#: ops whose rule is an estimator by definition, not the kernel's derivative (``round``'s
#: is 0 almost everywhere): straight-through ``dx`` and learned TQT/LSQ scale gradients, as
#: MegEngine defines them; tests/quantization/test_fake_quant_ops.py checks them against
#: MegEngine's own gradients instead
ESTIMATED = (FakeQuant, TQT, LSQ)
RULED = [c for c in CASES if _usable(c) and type(c.op).grad_rule is not None
         and not isinstance(c.op, ESTIMATED)]
UNRULED = [c for c in CASES if _usable(c) and type(c.op).grad_rule is None]
#: cases whose finite differences take tens of seconds (thousands of kernel runs)
SLOW = {"Correlation-k3-d2-s21-p2-True"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.id in SLOW
                                  else c for c in RULED], ids=lambda c: c.id)
def test_rule_matches_finite_differences(case) -> None:
    try:
        grads, weights = _tape_grads(case)
    except NotImplementedError as exc:  # a mode or param set the rule refuses, by name
        assert case.op.type_name in str(exc)
        return
    if not weights:
        pytest.skip("no float output to differentiate")
    if case.id in KINKS:
        pytest.skip(KINKS[case.id])
    outs = load_backend("numpy").run(case.op, list(case.inputs))
    outs = outs if isinstance(outs, tuple) else (outs,)
    if not all(np.isfinite(np.asarray(o, np.float64)).all() for o in outs if o.dtype.kind == "f"):
        pytest.skip("outputs are not finite here")
    for k, (x, got) in enumerate(zip(case.inputs, grads)):
        if x.dtype.kind != "f":
            continue
        if got is None:
            assert k in _allowed_none(case), f"input {k} got no gradient"
            continue
        if (case.id, k) in FD_KINKS:
            continue
        want = _numeric_grad(case, k, weights, h=FD_STEPS.get((type(case.op), k), 1e-3))
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * scale,
                                   err_msg=f"{case.id}: input {k}")


@pytest.mark.parametrize("case", UNRULED, ids=lambda c: c.id)
def test_op_without_rule_refuses_by_name(case) -> None:
    tensors = [mge.tensor(x) for x in case.inputs]
    gm = GradManager().attach([t for t in tensors if t.dtype.kind == "f"])
    with gm:
        outs = apply(case.op, *tensors)
        ys = [o for o in outs if o.dtype.kind == "f" and o.size]
        if not ys:
            pytest.skip("no float output to differentiate")
        with pytest.raises(NotImplementedError, match=case.op.type_name):
            gm.backward(ys, [mge.tensor(np.ones(y.shape, np.float32)) for y in ys])


@pytest.mark.skipif("torch" not in available_backends(), reason="the torch extra is absent")
@pytest.mark.parametrize("case", RULED, ids=lambda c: c.id)
def test_rule_on_torch_backend_matches_torch_autograd(case) -> None:
    import torch

    backend = load_backend("torch")
    xs = [torch.tensor(x, dtype=torch.float64) if x.dtype.kind == "f" else torch.tensor(x)
          for x in case.inputs]
    for x in xs:
        if x.dtype.is_floating_point:
            x.requires_grad_(True)
    try:
        outs = backend.run(case.op, xs)
    except (NotImplementedError, TypeError, RuntimeError) as exc:
        pytest.skip(f"the torch kernel does not run on float64 leaves: {exc}")
    outs = outs if isinstance(outs, tuple) else (outs,)
    previous = get_default_backend()
    set_default_backend("torch")
    try:
        grads, weights = _tape_grads(case)
    except NotImplementedError as exc:
        assert case.op.type_name in str(exc)
        return
    finally:
        set_default_backend(previous)
    if not weights or not all(torch.isfinite(o).all() for o in outs if o.is_floating_point()):
        pytest.skip("no finite float output to differentiate")
    loss = sum((outs[j].double() * torch.tensor(w, dtype=torch.float64)).sum()
               for j, w in weights.items())
    leaves = [x for x in xs if x.requires_grad]
    if not loss.requires_grad:
        pytest.skip("the torch kernel is not differentiable by torch.autograd")
    want = torch.autograd.grad(loss, leaves, allow_unused=True)
    float_grads = [g for x, g in zip(case.inputs, grads) if x.dtype.kind == "f"]
    for k, (got, ref) in enumerate(zip(float_grads, want)):
        if got is None or ref is None:
            continue
        ref = ref.numpy()
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * scale,
                                   err_msg=f"{case.id}: float input {k}")

