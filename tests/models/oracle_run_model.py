"""Run one of mge/models/*.py under real MegEngine 1.13 (the oracle for tests/models).

Usage (with .oracle/bin/python):
    oracle_run_model.py MODEL_FILE FACTORY KWARGS_JSON STATE_NPZ INPUT_NPY OUTPUT_NPY

``mge``, ``mge.functional`` and ``mge.module`` are aliased to MegEngine's modules, so the
model file runs unchanged. The model loads STATE_NPZ with ``strict=True`` (so its keys
and shapes must be MegEngine's), runs in eval mode on INPUT_NPY and saves the output.
"""

import importlib.util
import json
import sys

import megengine
import megengine.functional
import megengine.module
import numpy as np


def main(model_file, factory, kwargs_json, state_npz, input_npy, output_npy):
    sys.modules["mge"] = megengine
    sys.modules["mge.functional"] = megengine.functional
    sys.modules["mge.module"] = megengine.module
    spec = importlib.util.spec_from_file_location("oracle_model", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, factory)(**json.loads(kwargs_json))
    with np.load(state_npz) as state:
        model.load_state_dict({k: state[k] for k in state.files}, strict=True)
    model.eval()
    np.save(output_npy, model(megengine.tensor(np.load(input_npy))).numpy())


if __name__ == "__main__":
    main(*sys.argv[1:])
