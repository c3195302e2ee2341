"""Dump one small graph per multi-output operator with real MegEngine 1.13 (run by the
oracle interpreter, not pytest), to learn how many outputs its FBS_V2 files list for it.

usage: python oracle_dump_multi_outputs.py OUT_DIR

Writes ``OUT_DIR/<case>.mge`` (FBS_V2, all inputs ``Host2DeviceCopy``, every listed output
of the operator an output of the graph) for each case MegEngine can dump, and prints the
cases it cannot.  ``tests/fixtures/outcount/ops`` was made by this script.
"""

import os
import sys

import megengine as mge
import megengine.core._imperative_rt as rt
import numpy as np
from megengine.core._imperative_rt.ops import new_rng_handle
from megengine.core.ops import builtin as B
from megengine.core.tensor import megbrain_graph as G

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
F32, I32 = "float32", "int32"
X4 = ((2, 3, 4, 4), F32)
P11 = ((1, 3, 1, 1), F32)
C3 = ((3,), F32)

def _rng_handle(seed):
    return new_rng_handle("xpux", seed)


CASES = {
    "bn_inference": (B.BatchNorm(fwd_mode="INFERENCE", param_dim="DIM_1C11"),
                     [X4, P11, P11, P11, P11]),
    "bn_training_no_stats": (B.BatchNorm(fwd_mode="TRAINING", param_dim="DIM_1C11"),
                             [X4, P11, P11]),
    "bn_training_stats": (B.BatchNorm(fwd_mode="TRAINING", param_dim="DIM_1C11"),
                          [X4, P11, P11, "shared", "shared"]),
    "svd_uv": (B.SVD(compute_uv=True), [((4, 3), F32)]),
    "svd_values": (B.SVD(compute_uv=False), [((4, 3), F32)]),
    "topk_kth": (B.TopK(mode="KTH_ONLY"), [((3, 5), F32), "k"]),
    "topk_sorted": (B.TopK(mode="VALUE_IDX_SORTED"), [((3, 5), F32), "k"]),
    "argsort": (B.Argsort(), [((3, 5), F32)]),
    "cond_take": (B.CondTake(), [((6,), F32), ((6,), "bool")]),
    "layer_norm_affine": (B.LayerNorm(affine=True, normalized_dim=1, normalized_size=4),
                          [((2, 3, 4), F32), ((4,), F32), ((4,), F32)]),
    "layer_norm": (B.LayerNorm(affine=False, normalized_dim=1, normalized_size=4),
                   [((2, 3, 4), F32)]),
    "group_norm": (B.GroupNorm(affine=False, group=3), [((2, 6, 4, 4), F32)]),
    "instance_norm": (B.InstanceNorm(affine=False, group=3), [X4]),
    "general_norm": (B.GeneralNorm(affine=False, axis_start=1, axis_end=2), [X4]),
    "dropout": (B.Dropout(drop_prob=0.5, seed=7, handle=_rng_handle(7)), [X4]),
    "roi_align": (B.ROIAlign(pooled_height=2, pooled_width=2, sample_height=2,
                             sample_width=2), [X4, ((2, 5), F32)]),
    "nms_keep": (B.NMSKeep(iou_thresh=0.5, max_output=4), [((1, 6, 4), F32)]),
    "check_non_finite": (B.CheckNonFinite(), [C3, C3]),
    "shuffle": (B.ShuffleRNG(seed=7, handle=_rng_handle(7)), [((5, 2), F32)]),
}


def make_inputs(g, specs):
    out = []
    for k, spec in enumerate(specs):
        if spec == "shared":
            value = np.ones((1, 3, 1, 1), F32)
            out.append(g._wrap(rt.make_shared(g, mge.tensor(value)._dev_tensor())))
        elif spec == "k":
            out.append(g._wrap(rt.make_const(g, np.array([2], I32), "xpux", I32)))
        else:
            shape, dtype = spec
            out.append(g.make_h2d(dtype=dtype, device="xpux", shape=shape, name=f"in{k}"))
    return out


for name, (op, specs) in CASES.items():
    try:
        g = G.Graph()
        outs = G.apply_normal_varnode(op, *make_inputs(g, specs))
        for k, v in enumerate(outs):
            v.name = f"out{k}"
        content, _ = G.dump_graph(list(outs), keep_var_name=2)
        with open(os.path.join(OUT, name + ".mge"), "wb") as f:
            f.write(content)
        print(f"{name}: {len(outs)} outputs")
    except Exception as exc:  # report and go on
        print(f"{name}: cannot dump ({type(exc).__name__}: {str(exc).splitlines()[0]})")
