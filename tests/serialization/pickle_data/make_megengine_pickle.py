"""Writes megengine_state.pkl with real MegEngine 1.13 (run with .oracle/bin/python).

The pickle holds MegEngine Tensors and Parameters (as ``megengine.save`` writes them)
next to a plain numpy array; tests/serialization/test_pickle.py loads it with mge.
"""

import os

import megengine as mge
import numpy as np

state = {
    "weight": mge.Parameter(np.arange(6, dtype="float32").reshape(2, 3)),
    "steps": mge.Tensor(np.array([7], dtype="int32")),
    "plain": np.array([0.5, 1.5], dtype="float32"),
}
mge.save(state, os.path.join(os.path.dirname(os.path.abspath(__file__)), "megengine_state.pkl"))
