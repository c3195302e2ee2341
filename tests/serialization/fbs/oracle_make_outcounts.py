"""Dump BatchNorm in training mode and SVD without u/vt with real MegEngine 1.13 (run by
the oracle interpreter, not pytest): the ops whose listed outputs depend on their params.

usage: python oracle_make_outcounts.py OUT_DIR

Writes ``OUT_DIR/<name>.mge`` (FBS_V2) and ``<name>.v1.mge`` (FBS v1) of each graph and
``<name>.npz`` with its input (``in:x``) and MegEngine's outputs (``out:<index>``):

- ``bn_training``: ``BatchNorm`` (``DIM_1C11``, ``TRAINING``) on ``x (2, 3, 4, 4)`` with
  scale, bias and running mean/var held as shared tensors; outputs: the updated running
  mean and variance and ``y`` (6 listed outputs);
- ``svd_values``: ``SVD(compute_uv=False)`` of ``x (2, 4, 3)`` (1 listed output).

The files in ``tests/fixtures/outcount`` were made by this script.
"""

import os
import sys

import megengine as mge
import megengine.core._imperative_rt as rt
import numpy as np
from megengine.core.ops import builtin
from megengine.core.tensor import megbrain_graph as G
from oracle_dumping import dump_both_formats, run_file

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(0)


def save(name, contents, x, outs):
    for suffix, content in zip(("", ".v1"), contents):
        with open(os.path.join(OUT, name + suffix + ".mge"), "wb") as f:
            f.write(content)
    np.savez(os.path.join(OUT, name + ".npz"), **{"in:x": x},
             **{f"out:{i}": np.asarray(o) for i, o in enumerate(outs)})


def bn_training():
    x = rng.randn(2, 3, 4, 4).astype("float32")
    params = [(rng.rand(1, 3, 1, 1) + 0.5).astype("float32"),
              rng.randn(1, 3, 1, 1).astype("float32"),
              rng.randn(1, 3, 1, 1).astype("float32"),
              (rng.rand(1, 3, 1, 1) + 0.5).astype("float32")]

    def make(g, xv):
        consts = [g._wrap(rt.make_shared(g, mge.tensor(v)._dev_tensor())) for v in params]
        op = builtin.BatchNorm(fwd_mode=builtin.BatchNorm.FwdMode.TRAINING, avg_factor=0.1,
                               param_dim=builtin.BatchNorm.ParamDim.DIM_1C11, epsilon=1e-5)
        outs = G.apply_normal_varnode(op, xv, *consts)
        return [outs[0], outs[1], outs[-1]]

    names = ("mean", "var", "y")
    contents = dump_both_formats(make, x, names)
    result = run_file(contents[0], x, OUT)
    save("bn_training", contents, x, [result[n] for n in names])


def svd_values():
    # the graph API: MegEngine 1.13's F.svd(compute_uv=False) fails (apply gives 1 output)
    x = rng.randn(2, 4, 3).astype("float32")

    def make(g, xv):
        return list(G.apply_normal_varnode(builtin.SVD(compute_uv=False), xv))

    contents = dump_both_formats(make, x, ("s",))
    save("svd_values", contents, x, [run_file(contents[0], x, OUT)["s"]])


bn_training()
svd_values()
print("done")
