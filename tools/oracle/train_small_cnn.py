"""Train a small CNN for 200 SGD-momentum steps with MegEngine's API; print the losses.

One script for both sides of the training yardstick (issue 17): real MegEngine 1.13
(``.oracle/bin/python tools/oracle/train_small_cnn.py OUT.npy``, with
``MEGENGINE_INTERP_ASYNC_LEVEL=0``) and mge (``python -m mge.compat run
tools/oracle/train_small_cnn.py OUT.npy [--backend torch]``). Data and initial weights
come from :func:`make_problem`, so ``tests/autodiff/test_training.py`` can give PyTorch
the same ones.

Model: conv 3x3 (1->8) + BatchNorm + ReLU + 2x2 max pooling + linear (8*6*6 -> 10),
cross entropy; batch 16 from 128 fixed samples; SGD lr 0.05, momentum 0.9.
"""

from __future__ import annotations

import sys

import numpy as np

STEPS, BATCH, LR, MOMENTUM = 200, 16, 0.05, 0.9


def make_problem(seed: int = 0) -> dict[str, np.ndarray]:
    """Images, labels and initial weights (float32), all from one numpy generator."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((128, 1, 12, 12)).astype(np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int32)
    # labels a CNN can learn: the class shifts the image's mean in one quadrant
    for k, label in enumerate(labels):
        r, c = divmod(int(label), 5)
        images[k, 0, r * 6:(r + 1) * 6, c:c + 3] += 1.5
    return {
        "images": images, "labels": labels,
        "conv_w": (rng.standard_normal((8, 1, 3, 3)) * 0.3).astype(np.float32),
        "conv_b": np.zeros((1, 8, 1, 1), np.float32),
        "fc_w": (rng.standard_normal((10, 288)) * 0.05).astype(np.float32),
        "fc_b": np.zeros((10,), np.float32),
    }


def train() -> np.ndarray:
    """The 200 losses of training with MegEngine's API (mge or real MegEngine)."""
    import megengine as mge
    import megengine.autodiff as ad
    import megengine.functional as F
    import megengine.module as M
    import megengine.optimizer as optim

    p = make_problem()

    class Net(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = M.Conv2d(1, 8, 3, padding=1)
            self.bn = M.BatchNorm2d(8)
            self.fc = M.Linear(288, 10)

        def forward(self, x):  # noqa: ANN001, ANN202 - MegEngine-style script
            x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
            return self.fc(F.flatten(x, 1))

    net = Net()
    net.conv.weight[...] = p["conv_w"]
    net.conv.bias[...] = p["conv_b"]
    net.fc.weight[...] = p["fc_w"]
    net.fc.bias[...] = p["fc_b"]
    gm = ad.GradManager().attach(net.parameters())
    opt = optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    losses = []
    for step in range(STEPS):
        start = (step * BATCH) % len(p["labels"])
        x = mge.tensor(p["images"][start:start + BATCH])
        y = mge.tensor(p["labels"][start:start + BATCH])
        with gm:
            loss = F.nn.cross_entropy(net(x), y)
            gm.backward(loss)
        opt.step().clear_grad()
        losses.append(float(loss.numpy()))
    return np.array(losses, np.float64)


if __name__ == "__main__":
    if "--backend" in sys.argv:
        import mge

        mge.set_default_backend(sys.argv[sys.argv.index("--backend") + 1])
    np.save(sys.argv[1], train())
