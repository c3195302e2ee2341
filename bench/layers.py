"""Issue 13's layers at speed: a transformer block and a ConvTranspose2d decoder.

* ``transformer``: pre-norm block, ``x + attn(LayerNorm(x))`` then
  ``x + MLP(LayerNorm(x))``; the attention is ``M.MultiHeadAttention`` (MegEngine's
  packed ``io_weight_bias``), the MLP is Linear-GELU-Linear.
* ``decoder``: three ``ConvTranspose2d`` (stride 2) with ReLUs, 8x8 -> 64x64.

Each model runs, with the same weights and input, as: mge eager on the torch backend,
mge.lite on the ``.mge`` mge dumps (plan backends torch and onnxruntime), PyTorch eager
(a twin module) and onnxruntime on the ONNX file mge exports from that ``.mge``.

Every engine runs at each ``--threads`` count with its own thread setting (torch's,
mge.lite's ``threads_number``, onnxruntime's ``intra_op_num_threads``), timed round-robin.

Run: ``python bench/layers.py [--iters 20] [--threads 1 2] [--tolerance 1e-4]``; prints
median ms per engine and each engine's largest difference from PyTorch's output relative
to PyTorch's largest value; exits 1 when one exceeds ``--tolerance``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# torch's OpenMP threads spin while waiting (see bench/lite.py); set before torch starts
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

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


def engines(name: str, net: object, x: np.ndarray, workdir: str, threads: int
            ) -> dict[str, Callable[[], np.ndarray]]:
    """Every engine of ``name`` at ``threads`` intra-op threads (each one's own setting:
    torch's, mge.lite's ``threads_number``, onnxruntime's ``intra_op_num_threads``)."""
    import onnxruntime as ort
    import torch

    import mge
    from mge.convert import to_onnx
    from mge.lite import LiteConfig, LiteNetwork

    path, onnx_path = os.path.join(workdir, f"{name}.mge"), os.path.join(workdir, f"{name}.onnx")
    if not os.path.exists(path):
        dump(net, x, path)
        to_onnx(path, onnx_path)
    twin, xt = torch_twin(name, net.state_dict()), torch.from_numpy(x)
    runs: dict[str, Callable[[], np.ndarray]] = {}

    def eager() -> np.ndarray:
        torch.set_num_threads(threads)
        mge.set_default_backend("torch")
        return net(mge.tensor(x)).numpy()

    runs["mge-eager-torch"] = eager
    for backend in ("torch", "onnxruntime"):
        config = LiteConfig()
        config.plan_backend = backend
        lite = LiteNetwork(config)
        lite.threads_number = threads
        lite.load(path)
        lite.get_io_tensor("data").set_data_by_copy(x)

        def run(lite: LiteNetwork = lite) -> np.ndarray:
            torch.set_num_threads(threads)
            lite.forward()
            lite.wait()
            return lite.get_io_tensor("out").to_numpy()

        runs[f"mge.lite-{backend}"] = run

    def pytorch() -> np.ndarray:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return twin(xt).numpy()

    runs["pytorch"] = pytorch
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    runs["onnxruntime"] = lambda: sess.run(None, feed)[0]
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per engine")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest |engine - pytorch| allowed, relative to the largest "
                             "|pytorch| value (exit status 1 beyond it)")
    args = parser.parse_args(argv)

    import mge

    mge.random.seed(0)
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench_layers_") as workdir:
        for name, (net, x) in mge_models().items():
            net.eval()
            rows, names = [], []
            for threads in args.threads:
                set_threads(threads)
                runs = engines(name, net, x, workdir, threads)
                names = list(runs)
                ref = runs["pytorch"]()
                scale = max(float(np.abs(ref).max()), 1e-30)
                diffs = {k: float(np.abs(fn() - ref).max()) / scale for k, fn in runs.items()}
                failed += [f"{name} {k} ({threads} threads): {v:.1e}" for k, v in diffs.items()
                           if not v <= args.tolerance]
                t = interleaved_ms(runs, iters=args.iters)
                rows.append([threads, *(t[k] for k in runs)])
            print_table(f"{name}, batch 1, float32 (median ms)", ["threads", *names], rows)
            print("max |engine - pytorch| / max |pytorch|: " + ", ".join(
                f"{k} {v:.1e}" for k, v in diffs.items()))
    if failed:
        print("outputs differ beyond the tolerance:\n  " + "\n  ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
