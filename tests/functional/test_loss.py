"""F.loss / F.nn losses: values and gradients against PyTorch (same inputs)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager

torch = pytest.importorskip("torch")
tf = torch.nn.functional
RNG = np.random.default_rng(0)


def _grad(fn, *arrays):
    xs = [mge.tensor(a) for a in arrays]
    gm = GradManager().attach(xs[0])
    with gm:
        out = fn(*xs)
        gm.backward(out)
    return out.numpy(), xs[0].grad.numpy()


def _torch_grad(fn, *arrays):
    xs = [torch.tensor(a) for a in arrays]
    xs[0].requires_grad_(True)
    out = fn(*xs)
    out.backward()
    return out.detach().numpy(), xs[0].grad.numpy()


@pytest.mark.parametrize("smooth", [0.0, 0.1])
def test_cross_entropy(smooth: float) -> None:
    logits = RNG.standard_normal((6, 5)).astype(np.float32)
    labels = RNG.integers(0, 5, 6).astype(np.int32)
    got = _grad(lambda x, y: F.nn.cross_entropy(x, y, label_smooth=smooth), logits, labels)
    want = _torch_grad(lambda x, y: tf.cross_entropy(x, y.long(), label_smoothing=smooth),
                       logits, labels)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_cross_entropy_of_probabilities_and_reductions() -> None:
    probs = F.softmax(mge.tensor(RNG.standard_normal((4, 3)).astype(np.float32)), axis=1)
    labels = mge.tensor([0, 2, 1, 1])
    per_sample = F.nn.cross_entropy(probs, labels, with_logits=False, reduction="none")
    want = -np.log(probs.numpy()[np.arange(4), labels.numpy()])
    np.testing.assert_allclose(per_sample.numpy(), want, rtol=1e-5)
    total = F.nn.cross_entropy(probs, labels, with_logits=False, reduction="sum")
    np.testing.assert_allclose(total.numpy(), want.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.nn.cross_entropy(probs, labels, reduction="max")
    with pytest.raises(ValueError, match="one less than input ndim"):
        F.nn.cross_entropy(probs, mge.tensor([[0]]))


def test_binary_cross_entropy_l1_square_hinge() -> None:
    pred = RNG.standard_normal((4, 3)).astype(np.float32)
    label = (RNG.random((4, 3)) > 0.5).astype(np.float32)
    cases = [
        (F.nn.binary_cross_entropy, tf.binary_cross_entropy_with_logits),
        (lambda x, y: F.nn.binary_cross_entropy(F.sigmoid(x), y, with_logits=False),
         lambda x, y: tf.binary_cross_entropy(torch.sigmoid(x), y)),
        (F.nn.l1_loss, tf.l1_loss),
        (F.nn.square_loss, tf.mse_loss),
        (F.nn.hinge_loss, lambda x, y: tf.relu(1 - x * (2 * y - 1)).sum(1).mean()),
    ]
    for ours, theirs in cases:
        lab = label * 2 - 1 if ours is F.nn.hinge_loss else label
        for g, w in zip(_grad(ours, pred, lab), _torch_grad(theirs, pred, label)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_matches_torch(reduction: str) -> None:
    steps, n, classes = 12, 3, 5
    probs = tf.softmax(torch.tensor(RNG.standard_normal((steps, n, classes)),
                                    dtype=torch.float32), -1).numpy()
    in_lengths = np.array([12, 9, 7], np.int32)
    out_lengths = np.array([3, 1, 4], np.int32)
    labels = RNG.integers(1, classes, out_lengths.sum()).astype(np.int32)
    ours = F.nn.ctc_loss(mge.tensor(probs), mge.tensor(in_lengths), mge.tensor(labels),
                         mge.tensor(out_lengths), blank=0, reduction=reduction)
    theirs = tf.ctc_loss(torch.log(torch.tensor(probs)), torch.tensor(labels).long(),
                         torch.tensor(in_lengths).long(), torch.tensor(out_lengths).long(),
                         blank=0, reduction=reduction)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


def test_ctc_loss_gradient_matches_finite_differences() -> None:
    """(torch's ctc_loss gradient assumes normalized log-probabilities, so it is no
    reference for the gradient with respect to ``pred``.)"""
    steps, n, classes = 5, 2, 4
    probs = tf.softmax(torch.tensor(RNG.standard_normal((steps, n, classes)),
                                    dtype=torch.float64), -1).numpy()
    labels = np.array([[1, 2, 2], [3, 1, 0]], np.int32)
    in_lengths, out_lengths = np.array([5, 4], np.int32), np.array([2, 2], np.int32)

    def loss(p):
        return F.nn.ctc_loss(p, mge.tensor(in_lengths), mge.tensor(labels),
                             mge.tensor(out_lengths), reduction="sum")

    _, got = _grad(loss, probs.astype(np.float32))
    want, h = np.zeros_like(probs), 1e-3
    for i in range(probs.size):
        up, down = probs.copy(), probs.copy()
        up.flat[i] += h
        down.flat[i] -= h
        want.flat[i] = (loss(mge.tensor(up)).item() - loss(mge.tensor(down)).item()) / (2 * h)
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)
