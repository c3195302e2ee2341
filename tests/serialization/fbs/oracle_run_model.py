"""Run a .mge model with real MegEngine (executed by the oracle interpreter, not pytest).

usage: python oracle_run_model.py MODEL INPUTS.npz OUTPUTS.npz

Loads MODEL with ``megengine.core.tensor.megbrain_graph.load_graph`` (through
``GraphInference``), feeds the arrays of INPUTS.npz by name and saves the outputs, keyed by
output name, to OUTPUTS.npz.  Prints the loaded metadata as JSON on stdout.
"""

import json
import sys

import numpy as np
from megengine.core.tensor import megbrain_graph as G
from megengine.utils.comp_graph_tools import GraphInference


def main() -> None:
    model, inputs, outputs = sys.argv[1:4]
    meta = G.load_graph(model).metadata
    feed = dict(np.load(inputs))
    result = GraphInference(model).run(inp_dict=feed)
    np.savez(outputs, **{k: np.asarray(v) for k, v in result.items()})
    info = {
        "outputs": list(result),
        "is_valid": bool(meta.is_valid),
        "graph_modified": bool(meta.graph_modified),
        "optimize_options": int(meta.optimize_options),
        "optimized_for_inference": bool(meta.optimized_for_inference),
        "user_info": meta.user_info.hex() if isinstance(meta.user_info, bytes) else None,
    }
    print("ORACLE-RESULT " + json.dumps(info))


if __name__ == "__main__":
    main()
