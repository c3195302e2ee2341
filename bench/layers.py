"""Issue 13's layers at speed: a transformer block and a ConvTranspose2d decoder.

* ``transformer``: pre-norm block, ``x + attn(LayerNorm(x))`` then
  ``x + MLP(LayerNorm(x))``; the attention is ``M.MultiHeadAttention`` (MegEngine's
  packed ``io_weight_bias``), the MLP is Linear-GELU-Linear.
* ``decoder``: three ``ConvTranspose2d`` (stride 2) with ReLUs, 8x8 -> 64x64.

Each model runs, with the same weights and input, as: mge eager on the torch backend,
mge.lite on the ``.mge`` mge dumps (plan backends torch and onnxruntime), PyTorch eager
(a twin module) and onnxruntime on the ONNX file mge exports from that ``.mge``.

Run: ``python bench/layers.py [--iters 20] [--threads 1 2]``; prints median ms per engine
and the max difference of each engine's output from PyTorch's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_ms, print_table, set_threads  # noqa: E402

DIM, HEADS, TOKENS = 256, 8, 64


def mge_models() -> dict[str, tuple[object, np.ndarray]]:
    """The mge modules (seeded weights) and their inputs."""
    import mge.functional as F
    import mge.module as M

    class Block(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = M.LayerNorm(DIM), M.LayerNorm(DIM)
            self.attn = M.MultiHeadAttention(DIM, HEADS)
            self.fc1, self.fc2 = M.Linear(DIM, 4 * DIM), M.Linear(4 * DIM, DIM)

        def forward(self, x: object) -> object:
            h = self.ln1(x)
            x = x + self.attn(h, h, h)[0]
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    decoder = M.Sequential(
        M.ConvTranspose2d(64, 32, 4, stride=2, padding=1), M.ReLU(),
        M.ConvTranspose2d(32, 16, 4, stride=2, padding=1), M.ReLU(),
        M.ConvTranspose2d(16, 3, 4, stride=2, padding=1))
    rng = np.random.default_rng(0)
    return {"transformer": (Block(), rng.standard_normal((1, TOKENS, DIM)).astype(np.float32)),
            "decoder": (decoder, rng.standard_normal((1, 64, 8, 8)).astype(np.float32))}


def torch_twin(name: str, state: dict[str, np.ndarray]) -> Callable[[object], object]:
    """The same model in PyTorch with the mge weights."""
    import torch
    import torch.nn.functional as tF

    w = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
    if name == "decoder":
        def decoder(x: torch.Tensor) -> torch.Tensor:
            for k in range(3):
                i = 2 * k
                x = tF.conv_transpose2d(x, w[f"{i}.weight"], w[f"{i}.bias"].reshape(-1),
                                        stride=2, padding=1)
                x = tF.relu(x) if k < 2 else x
            return x
        return decoder

    packed = w["attn.io_weight_bias"].reshape(-1)  # Wq Wk Wv Wo (in, out), then biases
    mats = packed[:4 * DIM * DIM].reshape(4, DIM, DIM).transpose(1, 2).contiguous()
    biases = packed[4 * DIM * DIM:].reshape(4, DIM)

    def block(x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = tF.layer_norm(x, (d,), w["ln1.weight"], w["ln1.bias"])
        q, k, v = (tF.linear(h, mats[i], biases[i]).reshape(n, t, HEADS, -1).transpose(1, 2)
                   for i in range(3))
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // HEADS) ** 0.5, -1)
        x = x + tF.linear((att @ v).transpose(1, 2).reshape(n, t, d), mats[3], biases[3])
        h = tF.layer_norm(x, (d,), w["ln2.weight"], w["ln2.bias"])
        h = tF.linear(tF.gelu(tF.linear(h, w["fc1.weight"], w["fc1.bias"])), w["fc2.weight"],
                      w["fc2.bias"])
        return x + h
    return block


def dump(net: object, x: np.ndarray, path: str) -> None:
    import mge
    from mge.jit import trace

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> object:
        return net(data)

    pred(mge.tensor(x))
    pred.dump(path, arg_names=["data"], output_names=["out"])


def engines(name: str, net: object, x: np.ndarray, workdir: str
            ) -> dict[str, Callable[[], np.ndarray]]:
    import onnxruntime as ort
    import torch

    import mge
    from mge.convert import to_onnx
    from mge.lite import LiteConfig, LiteNetwork

    path, onnx_path = os.path.join(workdir, f"{name}.mge"), os.path.join(workdir, f"{name}.onnx")
    dump(net, x, path)
    to_onnx(path, onnx_path)
    twin, xt = torch_twin(name, net.state_dict()), torch.from_numpy(x)
    runs: dict[str, Callable[[], np.ndarray]] = {}

    def eager() -> np.ndarray:
        mge.set_default_backend("torch")
        return net(mge.tensor(x)).numpy()

    runs["mge-eager-torch"] = eager
    for backend in ("torch", "onnxruntime"):
        config = LiteConfig()
        config.plan_backend = backend
        lite = LiteNetwork(config)
        lite.load(path)
        lite.get_io_tensor("data").set_data_by_copy(x)

        def run(lite: LiteNetwork = lite) -> np.ndarray:
            lite.forward()
            lite.wait()
            return lite.get_io_tensor("out").to_numpy()

        runs[f"mge.lite-{backend}"] = run

    def pytorch() -> np.ndarray:
        with torch.inference_mode():
            return twin(xt).numpy()

    runs["pytorch"] = pytorch
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    runs["onnxruntime"] = lambda: sess.run(None, feed)[0]
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per engine")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)

    import mge

    mge.random.seed(0)
    with tempfile.TemporaryDirectory(prefix="bench_layers_") as workdir:
        for name, (net, x) in mge_models().items():
            net.eval()
            runs = engines(name, net, x, workdir)
            ref = runs["pytorch"]()
            diffs = {k: float(np.abs(fn() - ref).max()) for k, fn in runs.items()}
            rows = []
            for threads in args.threads:
                set_threads(threads)
                t = interleaved_ms(runs, iters=args.iters)
                rows.append([threads, *(t[k] for k in runs)])
            print_table(f"{name}, batch 1, float32 (median ms)", ["threads", *runs], rows)
            print("max |engine - pytorch|: " + ", ".join(f"{k} {v:.1e}" for k, v in
                                                         diffs.items()))


if __name__ == "__main__":
    main()
