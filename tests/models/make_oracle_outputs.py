"""Record real MegEngine 1.13's outputs for the reference models (committed fixture).

Run from the repo root with the oracle installed (``bash tools/oracle/install.sh``):

    python -m tests.models.make_oracle_outputs

For each model it builds the seeded test variant (``test_models._build``, 64x64, batch 2),
runs the same model file under real MegEngine on the same weights
(``oracle_run_model.py``) and stores the outputs, the input and a fingerprint of the weights in
``tests/models/data/oracle_outputs.npz``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tests.models.test_models import MODELS, SMALL, _build, _input

HERE = Path(__file__).resolve().parent

ORACLE_MODELS = ("resnet18", "shufflenet_v2_x1_0", "mobilenet_v2")
OUT = HERE / "data" / "oracle_outputs.npz"


def state_fingerprint(state: dict) -> np.ndarray:
    """Per-tensor sums and absolute sums (in key order): equal up to float rounding for
    the same weights, different when the seeded initialisation changes."""
    return np.array([[np.sum(state[k], dtype=np.float64), np.sum(np.abs(state[k]),
                                                                dtype=np.float64)]
                     for k in sorted(state)])


def main() -> None:
    import mge.models as models

    oracle = str(HERE.parents[1] / ".oracle" / "bin" / "python")
    record: dict[str, np.ndarray] = {"input": _input(SMALL)}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", record["input"])
        for name in ORACLE_MODELS:
            net = _build(name, SMALL)
            state = net.state_dict()
            np.savez(Path(tmp) / "state.npz", **state)
            _, file, kwargs = MODELS[name]
            subprocess.run(
                [oracle, str(HERE / "oracle_run_model.py"),
                 str(Path(models.__file__).parent / file), MODELS[name][0].__name__,
                 json.dumps({**kwargs, "input_size": SMALL}), str(Path(tmp) / "state.npz"),
                 str(Path(tmp) / "x.npy"), str(Path(tmp) / "out.npy")],
                check=True, capture_output=True)
            record[f"{name}:output"] = np.load(Path(tmp) / "out.npy")
            record[f"{name}:state"] = state_fingerprint(state)
    np.savez_compressed(OUT, **record)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
