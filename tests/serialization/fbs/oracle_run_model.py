"""Run .mge models with real MegEngine (executed by the oracle interpreter, not pytest).

usage: python oracle_run_model.py JOBS.json

JOBS.json is a list of ``{"model": path, "inputs": npz, "outputs": npz}``.  For each job
the model is loaded with ``megengine.core.tensor.megbrain_graph.load_graph`` (through
``GraphInference``), fed the arrays ``in:<name>`` of the inputs file, and its outputs are
saved to the outputs file as ``out:<index>`` in the order of the loaded output list.
One line ``ORACLE-RESULT <json>`` per job reports the names of the loaded output list,
the keys of the loaded output dict, the loaded metadata, or the error MegEngine raised.
"""

import json
import sys

import numpy as np
from megengine.core.tensor import megbrain_graph as G
from megengine.utils.comp_graph_tools import GraphInference


def run(job: dict) -> dict:
    loaded = G.load_graph(job["model"])
    meta = loaded.metadata
    names = [v.name for v in loaded.output_vars_list]
    feed = {k[3:]: v for k, v in np.load(job["inputs"]).items() if k.startswith("in:")}
    result = GraphInference(job["model"]).run(inp_dict=feed)
    np.savez(job["outputs"], **{f"out:{i}": np.asarray(result[n]) for i, n in enumerate(names)})
    return {
        "outputs": names,
        "output_map": sorted(loaded.output_vars_dict),
        "is_valid": bool(meta.is_valid),
        "graph_modified": bool(meta.graph_modified),
        "optimize_options": int(meta.optimize_options),
        "optimized_for_inference": bool(meta.optimized_for_inference),
        "user_info": meta.user_info.hex() if isinstance(meta.user_info, bytes) else None,
    }


def main() -> None:
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            info = run(job)
        except Exception as exc:  # report and go on with the other models
            info = {"error": f"{type(exc).__name__}: {exc}"}
        info["model"] = job["model"]
        print("ORACLE-RESULT " + json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
