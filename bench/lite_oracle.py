"""Real MegEngine Lite 1.13, driven by ``bench/lite.py`` (runs under the oracle's Python).

Worker mode (default) reads one JSON command per line on stdin and answers one JSON
line on stdout:

* ``{"cmd": "load", "key": k, "path": p, "threads": n}`` -> ``{"load_ms": ...}``
* ``{"cmd": "time", "key": k, "input": npy, "iters": n}`` -> ``{"ms": [...],
  "cpu_ms": [...]}`` (wall and process CPU time per forward)
* ``{"cmd": "run", "key": k, "input": npy, "output": npy}`` -> ``{}`` (first output saved)
* ``{"cmd": "drop", "key": k}`` -> ``{}``

``--dump MODEL_FILE FACTORY STATE_NPZ BATCH PATH`` writes MegEngine's own dump of a model
of mge/models (the file runs under MegEngine unchanged) with the given weights.

``--probe PATH INPUT THREADS`` loads, runs three times and prints the peak resident
memory added (MiB, from the kernel's peak-RSS counter reset after the imports) as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _vm_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _load(path: str, threads: int):  # noqa: ANN202
    from megenginelite import LiteNetwork

    net = LiteNetwork()
    net.threads_number = threads
    net.load(path)
    return net


def _run(net, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    net.get_io_tensor(net.get_input_name(0)).set_data_by_copy(x)
    net.forward()
    net.wait()
    names = net.get_all_output_name()
    return net.get_io_tensor("logits" if "logits" in names else names[0]).to_numpy()


def probe(path: str, input_path: str, threads: int) -> None:
    x = np.load(input_path)
    import megenginelite  # noqa: F401

    with open("/proc/self/clear_refs", "w") as f:  # reset the peak RSS counter
        f.write("5")
    base = _vm_mib("VmRSS")
    net = _load(path, threads)
    for _ in range(3):
        _run(net, x)
    print(json.dumps({"peak_mib": _vm_mib("VmHWM") - base}))


def worker() -> None:
    nets = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        reply: dict = {}
        if cmd["cmd"] == "load":
            start = time.perf_counter()
            nets[cmd["key"]] = _load(cmd["path"], cmd["threads"])
            reply["load_ms"] = (time.perf_counter() - start) * 1e3
        elif cmd["cmd"] == "time":
            net, x = nets[cmd["key"]], np.load(cmd["input"])
            _run(net, x)
            times, cpu = [], []
            for _ in range(cmd["iters"]):
                start, start_cpu = time.perf_counter(), time.process_time()
                net.forward()
                net.wait()
                times.append((time.perf_counter() - start) * 1e3)
                cpu.append((time.process_time() - start_cpu) * 1e3)
            reply["ms"], reply["cpu_ms"] = times, cpu
        elif cmd["cmd"] == "run":
            np.save(cmd["output"], _run(nets[cmd["key"]], np.load(cmd["input"])))
        elif cmd["cmd"] == "drop":
            nets.pop(cmd["key"], None)
        print(json.dumps(reply), flush=True)


def dump(model_file: str, factory: str, state_npz: str, batch: int, path: str) -> None:
    """Build ``factory()`` from one of mge/models/*.py with MegEngine's modules (the file
    runs unchanged), load the weights, and dump it with MegEngine's own ``trace.dump``."""
    import importlib.util

    import megengine
    import megengine.functional
    import megengine.module
    from megengine.jit import trace

    sys.modules["mge"] = megengine
    sys.modules["mge.functional"] = megengine.functional
    sys.modules["mge.module"] = megengine.module
    spec = importlib.util.spec_from_file_location("bench_model", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = getattr(module, factory)()
    with np.load(state_npz) as state:
        net.load_state_dict({k: state[k] for k in state.files}, strict=True)
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data):  # noqa: ANN001, ANN202
        return net(data)

    pred(megengine.tensor(np.zeros((batch, 3, 224, 224), np.float32)))
    pred.dump(path, arg_names=["data"], output_names=["logits"],
              enable_fuse_conv_bias_nonlinearity=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        probe(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 7 and sys.argv[1] == "--dump":
        dump(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        worker()
