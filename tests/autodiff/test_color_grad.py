"""``CvtColorForward``'s gradient: the per-pixel matrix it takes from the kernel is the
mode's colour matrix. (Finite differences and
torch.autograd check every float32 op-table case in test_grad_rules.py.)"""

from __future__ import annotations

import numpy as np

import mge
from mge.autodiff import GradManager
from mge.core.apply import apply
from mge.ops.vision.color import CvtColorForward
from mge.ops.vision.grad_color import color_jacobian


def test_jacobians_are_the_colour_matrices() -> None:
    np.testing.assert_allclose(color_jacobian(CvtColorForward(mode="RGB2GRAY")),
                               [[0.299, 0.587, 0.114]], rtol=1e-6)
    np.testing.assert_allclose(color_jacobian(CvtColorForward(mode="BGR2GRAY")),
                               [[0.114, 0.587, 0.299]], rtol=1e-6)
    np.testing.assert_allclose(color_jacobian(CvtColorForward(mode="GRAY2RGB")),
                               [[1.0], [1.0], [1.0]])


def test_gradient_of_rgb2gray_sums_weighted_channels() -> None:
    x = mge.tensor(np.random.default_rng(0).random((2, 3, 4, 3)).astype(np.float32))
    gm = GradManager().attach([x])
    with gm:
        (y,) = apply(CvtColorForward(mode="RGB2GRAY"), x)
        gm.backward(y.sum())
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to([0.299, 0.587, 0.114],
                                                               (2, 3, 4, 3)), rtol=1e-6)
