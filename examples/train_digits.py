"""Walk-through: the whole road in one script, from training code to Lite inference.

Trains a small CNN on scikit-learn's handwritten digits (1,797 8x8 images shipped inside
the package) with ``GradManager`` and ``SGD``, shows a progress bar, saves the loss and
accuracy curves as a PNG, then traces and dumps the trained model to ``.mge`` and runs the
test images through ``mge.lite``, checking it agrees with the eager model.

Run (needs ``pip install -e ".[train]"``):
    python examples/train_digits.py --epochs 8 --out digits.mge --plot digits.png
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

import mge
import mge.functional as F
import mge.module as M
from mge import jit, optimizer
from mge.autodiff import GradManager
from mge.lite import LiteNetwork


class DigitNet(M.Module):
    """conv 3x3 (1->16) + BN + ReLU + 2x2 max pool, conv 3x3 (16->32) + ReLU, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(1, 16, 3, padding=1)
        self.bn1 = M.BatchNorm2d(16)
        self.conv2 = M.Conv2d(16, 32, 3, padding=1)
        self.fc = M.Linear(32 * 4 * 4, 10)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.conv2(x))
        return self.fc(F.flatten(x, 1))


def load_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test split (80/20) of the digits as NCHW float32 in [0, 1] and int32 labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = len(order) * 4 // 5
    return images[order[:cut]], labels[order[:cut]], images[order[cut:]], labels[order[cut:]]


def train(net: DigitNet, images: np.ndarray, labels: np.ndarray, epochs: int,
          batch: int = 32, seed: int = 0) -> list[tuple[float, float]]:
    """SGD with momentum and a MultiStepLR schedule; (loss, accuracy) per epoch."""
    gm = GradManager().attach(net.parameters())
    opt = optimizer.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optimizer.MultiStepLR(opt, milestones=[epochs * 2 // 3])
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(labels))
        losses, hits = [], 0
        bar = tqdm(range(0, len(order), batch), desc=f"epoch {epoch + 1}/{epochs}",
                   leave=False)
        for start in bar:
            idx = order[start:start + batch]
            x, y = mge.tensor(images[idx]), mge.tensor(labels[idx])
            with gm:
                logits = net(x)
                loss = F.nn.cross_entropy(logits, y)
                gm.backward(loss)
            opt.step().clear_grad()
            losses.append(loss.item())
            hits += int((logits.numpy().argmax(1) == labels[idx]).sum())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        sched.step()
        history.append((float(np.mean(losses)), hits / len(labels)))
        tqdm.write(f"epoch {epoch + 1}: loss {history[-1][0]:.4f}, "
                   f"train accuracy {history[-1][1]:.3f}")
    return history


def plot(history: list[tuple[float, float]], path: str, size: tuple[int, int] = (480, 320)
         ) -> None:
    """Loss (red, scaled to its maximum) and accuracy (blue, 0..1) per epoch, as a PNG."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h, pad = size[0], size[1], 30
    draw.rectangle([pad, pad, w - pad, h - pad], outline="black")
    top = max(loss for loss, _ in history)
    for k, (color, values) in enumerate((("red", [loss / top for loss, _ in history]),
                                         ("blue", [acc for _, acc in history]))):
        xs = np.linspace(pad, w - pad, len(values))
        points = [(float(x), float(h - pad - v * (h - 2 * pad))) for x, v in zip(xs, values)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        draw.text((pad + 100 * k, h - pad + 8), ("loss / max", "accuracy")[k], fill=color)
    img.save(path)


def dump_and_run_lite(net: DigitNet, images: np.ndarray, path: str) -> np.ndarray:
    """Trace the trained model, dump it to ``path`` and run ``images`` through mge.lite."""
    net.eval()

    @jit.trace(symbolic=True, capture_as_const=True)
    def infer(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    infer(mge.tensor(images))
    infer.dump(path, arg_names=["data"], optimize_for_inference=True)
    network = LiteNetwork()
    network.load(path)
    network.get_io_tensor("data").set_data_by_copy(images)
    network.forward()
    network.wait()
    return network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default="digits.mge", help="the dumped model")
    parser.add_argument("--plot", default="digits.png", help="loss/accuracy curves (PNG)")
    args = parser.parse_args(argv)
    mge.random.seed(0)
    x_train, y_train, x_test, y_test = load_digits()
    net = DigitNet()
    history = train(net, x_train, y_train, args.epochs)
    plot(history, args.plot)
    lite = dump_and_run_lite(net, x_test, args.out)
    eager = net(mge.tensor(x_test)).numpy()  # eval mode since the dump
    accuracy = float((lite.argmax(1) == y_test).mean())
    print(f"test accuracy (mge.lite on {args.out}): {accuracy:.3f}; "
          f"max |lite - eager| = {np.abs(lite - eager).max():.2e}")
    return accuracy


if __name__ == "__main__":
    main()
