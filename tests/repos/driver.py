"""Driver (run as a script, by mge under the ``megengine`` alias and by real MegEngine):
build one model of a real MegEngine repository from the repository's own, unmodified
code, load weights from an ``.npz`` (or write seeded random ones when the path ends in
``@make``), run it on seeded inputs, save the outputs and (``DUMP`` given) trace and dump
it as ``.mge``.

    python driver.py GROUP MODEL REPO_DIR WEIGHTS[@make] OUT.npz [DUMP.mge]

``GROUP`` names ``tests/repos/<GROUP>.py`` beside this script (imported by file path): it
defines ``MODELS: dict[str, Builder]``, where a :data:`Builder` is given the extracted
repository's root (already first on ``sys.path`` and the working directory) and returns
the module (in eval mode or not: the driver sets it) and its named inputs. A group may also
define ``PREPARE: dict[str, Callable[[module, inputs], module]]`` (run after the weights
are loaded), ``WEIGHTS: dict[str, Callable[[dict, Path], dict]]`` (given the seeded
random weights and the repository's root, returns the weights to save: e.g. the
repository's own pretrained ones, or a gain kept in range), ``TRACE_OPTIONS`` and
``DUMP_OPTIONS`` (``dict[str, dict]``: extra keywords of ``trace`` and ``trace.dump`` for a
model, e.g. ``symbolic_shape=False`` for code that compares shapes in Python).

``OUT.npz`` holds ``in__<name>`` (the inputs) and ``out<k>`` (the outputs, flattened in
order, ``k`` zero-padded to 3 digits so that sorted keys keep the order).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import megengine as mge
import numpy as np
from megengine.jit import trace

HERE = Path(__file__).resolve().parent
Builder = Callable[[Path], tuple[object, dict[str, np.ndarray]]]


def load_by_path(path: Path, name: str) -> ModuleType:
    """Import the Python file ``path`` as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def flatten(value: object) -> list:
    """The tensors of a (nested) output, in order: lists, tuples and dict values."""
    if isinstance(value, dict):
        return [a for v in value.values() for a in flatten(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in flatten(v)]
    return [value]


def main(group: str, model: str, repo_dir: str, weights: str, out: str,
         dump: str | None = None) -> None:
    root = Path(repo_dir).resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    spec = load_by_path(HERE / f"{group}.py", f"_repos_group_{group}")
    net, inputs = spec.MODELS[model](root)
    net.eval()
    if weights.endswith("@make"):
        seeded = load_by_path(HERE.parent / "hub" / "random_weights.py", "_random_weights")
        state = seeded.random_weights({k: np.asarray(v) for k, v in net.state_dict().items()})
        state = getattr(spec, "WEIGHTS", {}).get(model, lambda s, _: s)(state, root)
        np.savez(weights[:-len("@make")], **state)
    else:
        with np.load(weights) as z:
            state = {k: z[k] for k in z.files}
    net.load_state_dict(state)
    net = getattr(spec, "PREPARE", {}).get(model, lambda n, _: n)(net, inputs)
    outs = flatten(net(*(mge.tensor(v) for v in inputs.values())))
    np.savez(out, **{f"in__{k}": v for k, v in inputs.items()},
             **{f"out{k:03d}": np.asarray(o.numpy()) for k, o in enumerate(outs)})
    if dump:
        # traced eagerly: research code checks shapes in Python, which symbolic tracing
        # cannot answer
        traced = trace(lambda *args: flatten(net(*args)), symbolic=False,
                       capture_as_const=True,
                       **getattr(spec, "TRACE_OPTIONS", {}).get(model, {}))
        traced(*(mge.tensor(v) for v in inputs.values()))
        options = {"optimize_for_inference": False,
                   **getattr(spec, "DUMP_OPTIONS", {}).get(model, {})}
        traced.dump(dump, arg_names=list(inputs), **options)


if __name__ == "__main__":
    main(*sys.argv[1:7])
