"""Shared by the oracle generator scripts (``oracle_make_models.py``,
``oracle_make_v1_models.py``, ``oracle_make_outcounts.py``, the BatchNorm ``param_dim``
goldens; run by the oracle interpreter, imported from this folder, never by pytest):
random weights, traced dumps with MegEngine's outputs, graphs built op by op and dumped in
both formats.

Both scripts draw from one ``RandomState(0)`` in the order they always did, so their
golden files come out the same as before this module existed.
"""

import json
import os

import megengine as mge
import numpy as np
from megengine.core.tensor import megbrain_graph as G
from megengine.jit import trace
from megengine.utils.comp_graph_tools import GraphInference


def dump_both_formats(make, x, names):
    """``make(graph, x_var)`` -> output vars (named ``names``) on a float32 input ``x``
    like ``x``, dumped as FBS_V2 and FBS (v1) with var names; the two files' bytes."""
    contents = []
    for fmt in ("FBS_V2", "FBS"):
        g = G.Graph()
        xv = g.make_h2d(dtype="float32", device="xpux", shape=x.shape, name="x")
        outs = make(g, xv)
        for v, n in zip(outs, names):
            v.name = n
        contents.append(G.dump_graph(outs, dump_format=fmt, keep_var_name=2)[0])
    return contents


def run_file(content, x, workdir):
    """MegEngine's outputs, by name, of the model file ``content`` on input ``x``."""
    path = os.path.join(workdir, "tmp.mge")
    with open(path, "wb") as f:
        f.write(content)
    try:
        return GraphInference(path).run(inp_dict={"x": x})
    finally:
        os.remove(path)


class Dumps:
    """Models dumped into ``out``: each traced function once per ``formats`` entry
    (file-name suffix -> ``dump_format``, None for MegEngine's default), its inputs and
    outputs in ``<name>.npz``, and a ``manifest.json`` entry. ``manifest_user_info``
    keeps the ``user_info`` dump option in the manifest."""

    def __init__(self, out, formats, manifest_user_info=False):
        os.makedirs(out, exist_ok=True)
        self.out, self.formats, self.keep_user_info = out, formats, manifest_user_info
        self.rng = np.random.RandomState(0)
        self.manifest = []

    def randomize(self, net):
        """``net`` in eval mode with random weights and running statistics."""
        net.eval()
        for p in net.parameters():
            p._reset(mge.tensor(self.rng.randn(*p.shape).astype("float32") * 0.3))
        for name, b in net.named_buffers():
            if "running_var" in name:
                b._reset(mge.tensor(self.rng.rand(*b.shape).astype("float32") + 0.5))
            elif "running_mean" in name:
                b._reset(mge.tensor(self.rng.randn(*b.shape).astype("float32") * 0.1))
        return net

    def dump(self, fn, inputs, name, **options):
        """Trace ``fn`` on ``inputs`` (name -> array) and dump it as ``name``."""
        traced = trace(fn, symbolic=True, capture_as_const=True)
        outs = traced(*[mge.tensor(v) for v in inputs.values()])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for suffix, fmt in self.formats.items():
            extra = {} if fmt is None else {"dump_format": fmt}
            traced.dump(self.path(name + suffix + ".mge"), arg_names=list(inputs),
                        **options, **extra)
        arrays = {f"in:{k}": v for k, v in inputs.items()}
        arrays.update({f"out:{i}": o.numpy() for i, o in enumerate(outs)})
        np.savez(self.path(name + ".npz"), **arrays)
        if not self.keep_user_info:
            options = {k: v for k, v in options.items() if k != "user_info"}
        self.manifest.append({"name": name, "options": options, "inputs": list(inputs)})

    def path(self, name):
        """``name`` in the output folder."""
        return os.path.join(self.out, name)

    def save_manifest(self):
        with open(self.path("manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)
        print(f"wrote {len(self.manifest)} models to {self.out}")
