"""Dump the operators whose FBS (v1) output count is a fact of MegEngine's C++ code with
real MegEngine 1.13 (run by the oracle interpreter, not pytest): RNN, LSTM, LSTMCell.

usage: python oracle_dump_v1_counts.py OUT_DIR

Writes ``OUT_DIR/<case>.v1.mge`` (FBS v1 without var names, so a reader must know how
many variables each operator adds) and ``<case>.mge`` (FBS_V2 with names, which lists
them), every listed output of the operator an output of the graph, and prints each
case's count. ``tests/fixtures/outcount/v1`` was made by this script.
"""

import os
import sys

from megengine.core.ops import builtin as B
from megengine.core.tensor import megbrain_graph as G

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
F32 = "float32"
T, N, I, H = 3, 2, 4, 5

CASES = {
    "rnn": (B.RNN(num_layers=1, bidirectional=False, bias=True, hidden_size=H),
            [(T, N, I), (1, N, H), (H, I + H + 2)]),
    "lstm": (B.LSTM(num_layers=1, bidirectional=False, bias=True, hidden_size=H, proj_size=0),
             [(T, N, I), (1, N, H), (1, N, H), (4 * H, I + H + 2)]),
    "lstm_cell": (B.LSTMCell(), [(N, I), (4 * H, I), (4 * H,), (N, H), (4 * H, H), (4 * H,),
                                 (N, H)]),
}

for name, (op, shapes) in CASES.items():
    try:
        for fmt, suffix, keep in (("FBS_V2", "", 2), ("FBS", ".v1", 0)):
            g = G.Graph()
            ins = [g.make_h2d(dtype=F32, device="xpux", shape=s, name=f"in{k}")
                   for k, s in enumerate(shapes)]
            outs = G.apply_normal_varnode(op, *ins)
            for k, v in enumerate(outs):
                v.name = f"out{k}"
            content, _ = G.dump_graph(list(outs), keep_var_name=keep, dump_format=fmt)
            with open(os.path.join(OUT, name + suffix + ".mge"), "wb") as f:
                f.write(content)
        print(f"{name}: {len(outs)} outputs")
    except Exception as exc:  # report and go on
        print(f"{name}: cannot dump ({type(exc).__name__}: {str(exc).splitlines()[0]})")
