"""``LayerNorm``, ``GroupNorm`` and ``InstanceNorm`` in ``.mge`` files, both directions:
real MegEngine 1.13 runs the ops mge writes, and mge runs the file MegEngine dumps."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from mge.graph.ir import Graph
from mge.ops.nn import GroupNorm, InstanceNorm, LayerNorm
from mge.runtime.plan import Plan, PlanOptions
from mge.serialization.mge_graph import dump_graph, graph_from_bytes
from tests.oracle import oracle_python, requires_oracle, run_in_megengine

from .optable import add_named_outputs, rand

# Run by the oracle interpreter: trace a net with the three norms and dump it (GroupNorm
# graphs dump only without inference optimization, see DESIGN.md), then save the input
# and MegEngine's eager outputs.
MEGENGINE_DUMP = """
import sys
import numpy as np, megengine as mge, megengine.functional as F, megengine.module as M
from megengine.jit import trace

class Net(M.Module):
    def __init__(self):
        super().__init__()
        self.ln, self.gn, self.inorm = M.LayerNorm(5), M.GroupNorm(2, 4), M.InstanceNorm(4)
        for m in (self.ln, self.gn, self.inorm):
            m.weight[...] = mge.tensor(np.linspace(0.5, 1.5, m.weight.size, dtype="float32"))
            m.bias[...] = mge.tensor(np.linspace(-1, 1, m.bias.size, dtype="float32"))

    def forward(self, x):
        return self.ln(x), self.gn(x), self.inorm(x), F.nn.layer_norm(x, (3, 5), False)

net = Net()
x = np.random.default_rng(0).uniform(-3, 3, (2, 4, 3, 5)).astype("float32")

@trace(symbolic=True, capture_as_const=True)
def pred(data):
    return net(data)

outs = [o.numpy() for o in pred(mge.tensor(x))]
pred.dump(sys.argv[1], arg_names=["x"], output_names=["ln", "gn", "inorm", "ln2"],
          optimize_for_inference=False, no_change_graph=True)
np.savez(sys.argv[2], x=x, **dict(zip(["ln", "gn", "inorm", "ln2"], outs)))
"""


@requires_oracle
def test_megengine_runs_our_norms(tmp_path: Path) -> None:
    x, w, b = rand(2, 4, 3, 5), rand(4, seed=1), rand(4, seed=2)
    graph = Graph()
    ins = [graph.add_input(n, a.shape, a.dtype) for n, a in (("x", x), ("w", w), ("b", b))]
    ops = {"ln": (LayerNorm(normalized_dim=2, normalized_size=15, affine=False), ins[:1]),
           "gn": (GroupNorm(group=2), ins), "inorm": (InstanceNorm(), ins)}
    add_named_outputs(graph, ops)
    path = tmp_path / "norms.mge"
    path.write_bytes(dump_graph(graph)[0])
    got = run_in_megengine(path, {"x": x, "w": w, "b": b}, runner="graph")
    ours = Plan(graph_from_bytes(path.read_bytes()).graph, PlanOptions(backend="numpy")).run(
        x, w, b)
    for k, name in enumerate(ops):
        np.testing.assert_allclose(got[name], ours[k], rtol=1e-5, atol=1e-5, err_msg=name)


@requires_oracle
def test_we_run_megengines_norms(tmp_path: Path) -> None:
    model, ref = tmp_path / "norms.mge", tmp_path / "ref.npz"
    subprocess.run([oracle_python(), "-c", MEGENGINE_DUMP, str(model), str(ref)], check=True,
                   capture_output=True, timeout=300,
                   env={"MEGENGINE_INTERP_ASYNC_LEVEL": "0", "PATH": "/usr/bin:/bin"})
    loaded = graph_from_bytes(model.read_bytes()).graph
    kinds = {type(node.op) for node in loaded.ops()}
    assert {LayerNorm, GroupNorm, InstanceNorm} <= kinds
    with np.load(ref) as want:
        for backend in ("numpy", "torch"):
            outs = Plan(loaded, PlanOptions(backend=backend)).run(want["x"])
            for k, name in enumerate(("ln", "gn", "inorm", "ln2")):
                np.testing.assert_allclose(outs[k], want[name], rtol=1e-5, atol=1e-5,
                                           err_msg=f"{backend} {name}")
