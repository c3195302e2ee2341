"""Running a ``.mge`` file in mge.lite for tests: one network per call, on a chosen plan
backend, with LiteConfig fields set by keyword."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mge.lite import LiteConfig, LiteNetwork


def lite_network(path: Path | str, backend: str = "numpy", threads: int | None = None,
                 **config: object) -> LiteNetwork:
    """A LiteNetwork on plan ``backend`` (``config``: LiteConfig fields) with ``path``
    loaded."""
    cfg = LiteConfig()
    cfg.plan_backend = backend
    for k, v in config.items():
        setattr(cfg, k, v)
    network = LiteNetwork(cfg)
    if threads is not None:
        network.threads_number = threads
    network.load(str(path))
    return network


def lite_outputs(path: Path | str, feeds: dict[str, np.ndarray], backend: str = "numpy",
                 threads: int | None = None, **config: object) -> dict[str, np.ndarray]:
    """Every output of one forward of ``path`` on ``feeds`` (by input name), by output
    name in the network's order."""
    network = lite_network(path, backend, threads, **config)
    for name, value in feeds.items():
        network.get_io_tensor(name).set_data_by_copy(value)
    network.forward()
    network.wait()
    return {n: network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()}
