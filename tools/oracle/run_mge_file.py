"""Run a ``.mge`` file with real MegEngine 1.13 and report what it computes.

This script belongs to the oracle tooling: it runs under the oracle interpreter
(``.oracle/bin/python``, Python 3.10 with ``megengine==1.13.0``) and is never
imported by ``mge``.  Tests call it through :func:`tests.oracle.run_in_megengine`.

Two independent MegEngine runners are used:

* ``lite``: ``megenginelite.LiteNetwork`` (the C++ Lite runtime), and
* ``graph``: ``megbrain_graph.load_graph`` + ``compile``/``execute`` on the loaded
  computing graph (the path ``megengine.tools.load_network_and_run`` takes).

Test-case containers (``mgbtest0``, written by ``trace.dump(input_data=...)``) are
understood too: neither MegEngine runner accepts them, so the model blob is cut
out of the container first, and the embedded test cases can be exported.

Usage::

    run_mge_file.py MODEL [--inputs IN.npz] [--out OUT.npz] [--graph-out OUT.npz]
                    [--summary SUMMARY.json] [--runner lite|graph|both|none]
                    [--testcases CASES.npz]

Inputs missing from ``--inputs`` are taken from the first embedded test case when
the file has one.  Exit status is non-zero when a runner fails.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import struct
import sys
import tempfile
from typing import Any

import numpy as np

TESTCASE_MAGIC = b"mgbtest0"
TESTCASE_HEADER = len(TESTCASE_MAGIC) + 4


def split_container(buf: bytes) -> tuple[bytes, list[bytes]]:
    """Split a file into its model blob and its test-case blobs.

    A test-case container is ``b"mgbtest0"``, a little-endian ``uint32`` test-case
    count, the model dump, then one dump per test case.  Every FBS_V2 dump is a
    size-prefixed flatbuffer (``uint32`` length, then that many bytes).
    """
    if not buf.startswith(TESTCASE_MAGIC):
        return buf, []
    (count,) = struct.unpack_from("<I", buf, len(TESTCASE_MAGIC))
    blobs = []
    offset = TESTCASE_HEADER
    while offset < len(buf):
        (size,) = struct.unpack_from("<I", buf, offset)
        blobs.append(buf[offset : offset + 4 + size])
        offset += 4 + size
    if offset != len(buf) or len(blobs) != count + 1:
        raise ValueError(
            f"malformed {TESTCASE_MAGIC!r} container: header says {count} test cases, "
            f"found {len(blobs) - 1} blobs ending at {offset} of {len(buf)} bytes"
        )
    return blobs[0], blobs[1:]


def var_dtype(var: Any) -> str | None:
    """Return a var's numpy dtype name, or ``None`` when numpy has no equivalent."""
    try:
        return str(np.dtype(var.dtype))
    except (RuntimeError, TypeError):
        return None  # e.g. BatchNorm's Byte-typed reserve output


def var_shape(var: Any) -> list[int] | None:
    """Return a var's static shape, or ``None`` when it is unknown (``CondTake``'s
    outputs: MegEngine raises asking for them)."""
    try:
        shape = var.shape
    except RuntimeError:
        return None
    return None if shape is None else [int(d) for d in shape]


def parse_params(text: str) -> Any:
    """Parse ``OpNode.params`` (MegEngine's JSON rendering), keeping raw text on failure."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def describe_graph(model: bytes) -> dict[str, Any]:
    """Load ``model`` with ``load_graph`` and describe its oprs, vars and metadata."""
    from megengine.core.tensor import megbrain_graph as G
    from megengine.utils import comp_graph_tools as cgt

    loaded = G.load_graph(io.BytesIO(model))
    outputs = loaded.output_vars_list
    oprs = cgt.get_oprs_seq(outputs, prune_reshape=False, prune_immtensor=False)
    inputs = cgt.get_dep_vars(outputs, "Host2DeviceCopy")
    meta = loaded.metadata
    metadata: dict[str, Any] = {}
    if meta.is_valid:
        metadata = {
            "is_valid": True,
            "graph_modified": bool(meta.graph_modified),
            "optimized_for_inference": bool(meta.optimized_for_inference),
            "optimize_options": int(meta.optimize_options)
            if meta.optimized_for_inference
            else None,
            "user_info_hex": bytes(meta.user_info).hex(),
        }
    else:
        metadata = {"is_valid": False}
    return {
        "inputs": [{"name": v.name, "dtype": var_dtype(v), "shape": var_shape(v)} for v in inputs],
        "outputs": [
            {"name": v.name, "dtype": var_dtype(v), "shape": var_shape(v)} for v in outputs
        ],
        "op_types": sorted({opr.type for opr in oprs}),
        "oprs": [
            {
                "type": opr.type,
                "name": opr.name,
                "params": parse_params(opr.params),
                "inputs": [v.name for v in opr.inputs],
                "outputs": [
                    {"name": v.name, "dtype": var_dtype(v), "shape": var_shape(v)}
                    for v in opr.outputs
                ],
            }
            for opr in oprs
        ],
        "metadata": metadata,
    }


def read_testcase(blob: bytes) -> list[np.ndarray]:
    """Evaluate one test-case blob: a graph of ``SharedDeviceTensor`` consts.

    The values come back in the order they were written, which is the model's
    ``Host2DeviceCopy`` inputs sorted by name (expected outputs are inputs named
    ``<output>:expect`` when the dump inserted ``AssertEqual`` checks).
    """
    from megengine.core.tensor import megbrain_graph as G

    loaded = G.load_graph(io.BytesIO(blob))
    nodes = [G.OutputNode(v) for v in loaded.output_vars_list]
    func = loaded.graph.compile([n.outputs[0] for n in nodes])
    func.execute()
    func.wait()
    return [n.get_value().numpy() for n in nodes]


def run_graph(model: bytes, feeds: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Run ``model`` through ``load_graph`` + ``compile``/``execute`` (graph opt level 0)."""
    import megengine as mge
    from megengine.core.tensor import megbrain_graph as G
    from megengine.utils import comp_graph_tools as cgt

    loaded = G.load_graph(io.BytesIO(model))
    graph = loaded.graph
    graph.options.graph_opt_level = 0  # run the file as written, like load_network_and_run
    outputs = loaded.output_vars_list
    names = [v.name for v in outputs]
    outputs, input_nodes = cgt.convert_inputs(outputs)
    output_nodes = [G.OutputNode(v) for v in outputs]
    func = graph.compile([n.outputs[0] for n in output_nodes])
    for name, node in input_nodes.items():
        node.set_value(mge.Tensor(feeds[name])._dev_tensor())
    func.execute()
    func.wait()
    return [(name, n.get_value().numpy()) for name, n in zip(names, output_nodes)]


def run_lite(model: bytes, feeds: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Run ``model`` with ``megenginelite.LiteNetwork`` on CPU.

    Inputs are copied in through a staging ``LiteTensor`` with ``memmove`` because
    ``LiteTensor.set_data_by_copy`` cannot take float16 arrays in 1.13.
    """
    from megenginelite import LiteLayout, LiteNetwork, LiteTensor

    network = LiteNetwork()
    with tempfile.NamedTemporaryFile(suffix=".mge", delete=False) as tmp:
        tmp.write(model)
    try:
        with open(tmp.name, "rb") as f:
            network.load(f)
    finally:
        os.unlink(tmp.name)
    staging = []
    for name in network.get_all_input_name():
        arr = np.ascontiguousarray(feeds[name])
        host = LiteTensor(LiteLayout(list(arr.shape), arr.dtype))
        if arr.nbytes:
            ctypes.memmove(host.get_ctypes_memory(), arr.ctypes.data, arr.nbytes)
        network.get_io_tensor(name).copy_from(host)
        staging.append(host)
    network.forward()
    network.wait()
    return [
        (name, network.get_io_tensor(name).to_numpy()) for name in network.get_all_output_name()
    ]


def as_npz_dict(results: list[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Key results by output name, refusing duplicate names."""
    out: dict[str, np.ndarray] = {}
    for name, value in results:
        if name in out:
            raise ValueError(f"duplicate output name {name!r}")
        out[name] = value
    return out


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Per-output max |a - b| (``None`` where shapes differ or the name is missing)."""
    diffs: dict[str, float | None] = {}
    for name, x in a.items():
        y = b.get(name)
        if y is None or x.shape != y.shape:
            diffs[name] = None
        elif x.size == 0:
            diffs[name] = 0.0
        else:
            diffs[name] = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
    return diffs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help=".mge file (plain dump or mgbtest0 container)")
    parser.add_argument("--inputs", help=".npz of named input arrays")
    parser.add_argument("--out", help="write the Lite runner's outputs here (.npz)")
    parser.add_argument("--graph-out", help="write the graph runner's outputs here (.npz)")
    parser.add_argument("--summary", help="write a JSON summary here")
    parser.add_argument("--runner", choices=["lite", "graph", "both", "none"], default="both")
    parser.add_argument("--testcases", help="export embedded test cases here (.npz)")
    args = parser.parse_args(argv)

    import megengine
    from megengine.logger import set_mgb_log_level

    set_mgb_log_level("ERROR")

    with open(args.model, "rb") as f:
        buf = f.read()
    model, case_blobs = split_container(buf)
    summary: dict[str, Any] = {
        "megengine_version": megengine.__version__,
        "container": "mgbtest0" if case_blobs or buf.startswith(TESTCASE_MAGIC) else "plain",
        "num_testcases": len(case_blobs),
    }
    summary.update(describe_graph(model))
    input_names = sorted(v["name"] for v in summary["inputs"])

    cases = [dict(zip(input_names, read_testcase(blob))) for blob in case_blobs]
    if args.testcases:
        np.savez(
            args.testcases,
            **{f"case{i}/{k}": v for i, case in enumerate(cases) for k, v in case.items()},
        )
    summary["testcase_names"] = input_names if cases else []

    feeds: dict[str, np.ndarray] = dict(cases[0]) if cases else {}
    if args.inputs:
        with np.load(args.inputs) as data:
            feeds.update({k: data[k] for k in data.files})
    missing = [name for name in input_names if name not in feeds]

    status = 0
    results: dict[str, dict[str, np.ndarray]] = {}
    runners = {"lite": ["lite"], "graph": ["graph"], "both": ["lite", "graph"], "none": []}
    if missing and runners[args.runner]:
        summary["error"] = f"missing inputs: {missing}"
        status = 2
    else:
        for runner in runners[args.runner]:
            try:
                fn = run_lite if runner == "lite" else run_graph
                results[runner] = as_npz_dict(fn(model, feeds))
            except Exception as exc:  # report every runner failure, keep going
                summary[f"{runner}_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                status = 1
    for runner, values in results.items():
        summary[f"{runner}_outputs"] = [
            {"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in values.items()
        ]
    if "lite" in results and "graph" in results:
        summary["lite_vs_graph_max_abs_diff"] = max_abs_diff(results["lite"], results["graph"])

    if args.out and "lite" in results:
        np.savez(args.out, **results["lite"])
    if args.graph_out and "graph" in results:
        np.savez(args.graph_out, **results["graph"])
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
    else:
        json.dump(summary, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
