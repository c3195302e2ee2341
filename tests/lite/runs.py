"""Run a ``.mge`` file through ``mge.lite`` from tests: one load, one forward, all outputs.

    from tests.lite.runs import run_lite

    outputs = run_lite(path, {"data": x}, backend="numpy")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mge.lite as L


def run_lite(path: Path, inputs: dict[str, np.ndarray] | np.ndarray, backend: str = "auto"
             ) -> list[np.ndarray]:
    """The outputs of ``mge.lite`` (plan backend ``backend``) running the ``.mge`` file
    ``path``, in output order; ``inputs`` maps input names to values, or is the value of
    the network's first input."""
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.load(str(path))
    if isinstance(inputs, np.ndarray):
        inputs = {net.get_all_input_name()[0]: inputs}
    for name, value in inputs.items():
        net.get_io_tensor(name).set_data_by_copy(value)
    net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()]
