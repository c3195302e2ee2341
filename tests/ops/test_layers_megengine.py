"""The 3-d convolutions, GroupLocal, Images2Neibs, SlidingWindowTranspose, MatrixInverse,
LRN, GeneralNorm and DeformableConvForward in ``.mge`` files, both directions: mge runs
the file real MegEngine 1.13 dumps, and MegEngine runs the ops mge writes. A MegEngine
``CondTake`` loads with a clear error (its output size follows the mask's values).

Not yet read: MegEngine's ``conv_transpose3d`` with ``output_padding`` passes the output
shape as an ``Alloc`` var computed from ``GetVarShape`` (no ``Alloc`` op in mge yet)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mge.graph.ir import Graph
from mge.ops.conv import (
    Convolution3DBackwardData,
    Convolution3DForward,
    DeformableConvForward,
    GroupLocal,
    Images2Neibs,
    SlidingWindowTranspose,
)
from mge.ops.nn import LRN, GeneralNorm, MatrixInverse
from mge.runtime.plan import Plan, PlanOptions
from mge.serialization.mge_graph import MgeFormatError, dump_graph, graph_from_bytes
from tests.oracle import oracle_python, requires_oracle, run_in_megengine

from .optable import add_named_outputs, rand

NAMES = ["conv3d", "deconv3d", "local", "windows", "unwindows", "inverse", "lrn", "gnorm", "dcn"]
# Run by the oracle interpreter: trace the layers, dump them, save inputs and outputs.
MEGENGINE_DUMP = """
import sys
import numpy as np, megengine as mge, megengine.functional as F
from megengine.jit import trace

rng = np.random.default_rng(0)
r = lambda *s: rng.uniform(-2, 2, s).astype("float32")
x5, x4, win, sq = r(2, 4, 4, 5, 4), r(2, 4, 7, 8), r(2, 3, 4, 9, 3, 2), r(3, 4, 4)
sq += 4 * np.eye(4, dtype="float32")
w5, wt5, wl = mge.tensor(r(6, 4, 2, 3, 2)), mge.tensor(r(4, 3, 3, 2, 2)), mge.tensor(
    r(2, 4, 4, 2, 3, 3, 3))
wd, off, msk = mge.tensor(r(3, 4, 3, 3)), mge.tensor(r(2, 18, 7, 8)), mge.tensor(r(2, 9, 7, 8))

@trace(symbolic=True, capture_as_const=True)
def pred(x5, x4, win, sq):
    return (F.conv3d(x5, w5, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1)),
            F.conv_transpose3d(x5, wt5, stride=2, padding=1),
            F.local_conv2d(x4, wl, stride=2, padding=1),
            F.sliding_window(x4, (3, 2), padding=(1, 2), stride=(2, 1), dilation=(1, 3)),
            F.sliding_window_transpose(win, (7, 8), (3, 2), padding=(1, 2), stride=(2, 1),
                                       dilation=(1, 3)),
            F.matinv(sq), F.nn.local_response_norm(x4, 3, 1.5, 0.2, 0.6),
            F.nn.general_norm(x4, (1, 2), False),
            F.deformable_conv2d(x4, wd, off, msk, padding=1))

ins = dict(x5=x5, x4=x4, win=win, sq=sq)
outs = [o.numpy() for o in pred(*[mge.tensor(v) for v in ins.values()])]
names = sys.argv[3].split(",")
pred.dump(sys.argv[1], arg_names=list(ins), output_names=names, optimize_for_inference=False)
np.savez(sys.argv[2], **ins, **dict(zip(names, outs)))
"""
CONDTAKE_DUMP = """
import sys
import numpy as np, megengine as mge, megengine.functional as F
from megengine.jit import trace

@trace(symbolic=True, capture_as_const=True)
def pred(x):
    return F.cond_take(x > 0, x)

pred(mge.tensor(np.arange(-2, 3, dtype="float32")))
pred.dump(sys.argv[1], arg_names=["x"], optimize_for_inference=False)
"""


def _oracle(script: str, *args: str) -> None:
    subprocess.run([oracle_python(), "-c", script, *args], check=True, capture_output=True,
                   timeout=300, env={"MEGENGINE_INTERP_ASYNC_LEVEL": "0", "PATH": "/usr/bin:/bin"})


@requires_oracle
def test_we_run_megengines_layers(tmp_path: Path) -> None:
    model, ref = tmp_path / "layers.mge", tmp_path / "ref.npz"
    _oracle(MEGENGINE_DUMP, str(model), str(ref), ",".join(NAMES))
    loaded = graph_from_bytes(model.read_bytes()).graph
    kinds = {type(node.op) for node in loaded.ops()}
    assert {Convolution3DForward, Convolution3DBackwardData, GroupLocal, Images2Neibs,
            SlidingWindowTranspose, MatrixInverse, LRN, GeneralNorm, DeformableConvForward} <= kinds
    with np.load(ref) as want:
        for backend in ("numpy", "torch"):
            outs = Plan(loaded, PlanOptions(backend=backend)).run(
                *(want[k] for k in ("x5", "x4", "win", "sq")))
            for k, name in enumerate(NAMES):
                np.testing.assert_allclose(outs[k], want[name], rtol=1e-4, atol=1e-4,
                                           err_msg=f"{backend} {name}")


@requires_oracle
def test_megengine_runs_our_layers(tmp_path: Path) -> None:
    feeds = {"x5": rand(2, 4, 4, 5, 4), "x4": rand(1, 4, 6, 6), "win": rand(1, 2, 3, 4, 2, 2),
             "sq": rand(2, 3, 3) + 3 * np.eye(3, dtype="float32")}
    graph = Graph()
    ins = {k: graph.add_input(k, v.shape, v.dtype) for k, v in feeds.items()}
    w5 = graph.add_const(rand(3, 4, 2, 2, 2, seed=1), name="w5")
    wt5 = graph.add_const(rand(4, 2, 2, 3, 2, seed=2), name="wt5")
    wl = graph.add_const(rand(1, 3, 3, 4, 3, 3, 2, seed=3), name="wl")
    ops = {
        "conv3d": (Convolution3DForward(pad_d=1, stride_h=2, dilate_w=2), [ins["x5"], w5]),
        "deconv3d": (Convolution3DBackwardData(stride_d=2, stride_h=2, stride_w=2,
                                               output_dhw=(9, 11, 9)), [wt5, ins["x5"]]),
        "local": (GroupLocal(pad_h=1, pad_w=1, stride_h=2, stride_w=2), [ins["x4"], wl]),
        "windows": (Images2Neibs(window_h=2, window_w=3, stride_h=2, dilate_w=2, pad_w=1),
                    [ins["x4"]]),
        "unwindows": (SlidingWindowTranspose(out_h=4, out_w=5, window_h=2, window_w=2),
                      [ins["win"]]),
        "inverse": (MatrixInverse(), [ins["sq"]]),
        "lrn": (LRN(n=3, k=1.5, alpha=0.2, beta=0.6), [ins["x4"]]),
        "gnorm": (GeneralNorm(affine=False, axis_start=1, axis_end=3), [ins["x4"]]),
        "dcn": (DeformableConvForward(pad_h=1, pad_w=1),
                [ins["x4"], graph.add_const(rand(2, 4, 3, 3, seed=4), name="wd"),
                 graph.add_const(rand(1, 18, 6, 6, seed=5), name="off"),
                 graph.add_const(rand(1, 9, 6, 6, seed=6, low=0, high=1), name="msk")]),
    }
    add_named_outputs(graph, ops)
    path = tmp_path / "layers.mge"
    path.write_bytes(dump_graph(graph)[0])
    got = run_in_megengine(path, feeds, runner="graph")
    ours = Plan(graph, PlanOptions(backend="numpy")).run(*feeds.values())
    for k, name in enumerate(ops):
        np.testing.assert_allclose(got[name], ours[k], rtol=1e-4, atol=1e-4, err_msg=name)


@requires_oracle
def test_megengines_cond_take_is_refused_by_name(tmp_path: Path) -> None:
    model = tmp_path / "cond_take.mge"
    _oracle(CONDTAKE_DUMP, str(model))
    with pytest.raises(MgeFormatError, match="CondTake.*depends on the mask's values"):
        graph_from_bytes(model.read_bytes())
