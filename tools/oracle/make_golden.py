"""Build golden ``.mge`` fixtures with real MegEngine 1.13.

Run with the oracle interpreter (never imported by ``mge``)::

    .oracle/bin/python tools/oracle/make_golden.py --out tests/fixtures/megengine

For every fixture ``<name>`` this writes

* ``<name>.mge``: the file MegEngine dumped (``<name>.mgbtest`` for ``mgbtest0``
  test-case containers, so that ``*.mge`` globs only see plain models),
* ``<name>.npz``: ``input/<arg>`` arrays, the outputs of the eager (untraced) run as
  ``eager/<output>``, and the outputs of running the dumped file with
  ``megenginelite`` (``lite/<output>``) and with ``load_graph`` + ``compile``
  (``graph/<output>``); test-case containers also get ``testcase<i>/<var>``,
* ``<name>.graph.json``: MegEngine's own view of the file (oprs in topological
  order with type, name, params, input/output vars, dtypes, shapes; metadata),

plus ``manifest.json`` describing every fixture (dump options, inputs, outputs, op
types, sha256).  Everything is seeded and written byte-for-byte reproducibly.

The nets are defined in ``golden_nets.py`` (MegEngine style, reduced width): a
conv/BN/linear net used for the dump-option matrix, ResNet-18, ShuffleNetV2 and
MobileNetV2 variants, an image preprocessing head, and a net that shows MegEngine
1.13's ``F.clip`` dump bug.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import sys
import zipfile
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import megengine as mge  # noqa: E402
import megengine.module as M  # noqa: E402
from fbs_peek import peek  # noqa: E402
from golden_nets import (  # noqa: E402
    ClipNet,
    ConvNet,
    MobileNetV2,
    Preprocess,
    ResNet18,
    ShuffleNetV2,
    TwoHeads,
)
from megengine.jit import trace  # noqa: E402
from megengine.logger import set_mgb_log_level  # noqa: E402
from run_mge_file import (  # noqa: E402
    describe_graph,
    read_testcase,
    run_graph,
    run_lite,
    split_container,
)

SEED = 20240601


# ----------------------------------------------------------------------- helpers


def state_key(prefix: str, attr: str) -> str:
    """``state_dict`` key of attribute ``attr`` of the sub-module at ``prefix``."""
    return f"{prefix}.{attr}" if prefix else attr


def seeded_state(net: M.Module, seed: int) -> None:
    """Overwrite every parameter and BN statistic with seeded, non-trivial values.

    Distinct random values keep MegEngine from merging equal-valued constants (it
    deduplicates them at dump time), and non-trivial BN statistics make BN folding
    observable.  Conv/linear weights get He-normal scale.
    """
    rs = np.random.RandomState(seed)
    state = {k: v for k, v in net.state_dict().items()}
    for prefix, mod in net.named_modules():
        key = functools.partial(state_key, prefix)
        if isinstance(mod, M.BatchNorm2d):
            shape = state[key("weight")].shape
            state[key("weight")] = rs.uniform(0.5, 1.5, shape)
            state[key("bias")] = rs.normal(0.0, 0.1, shape)
            state[key("running_mean")] = rs.normal(0.0, 0.1, shape)
            state[key("running_var")] = rs.uniform(0.5, 2.0, shape)
        elif isinstance(mod, (M.Conv2d, M.Linear)):
            shape = state[key("weight")].shape
            fan_in = int(np.prod(shape[-3:])) if len(shape) >= 4 else shape[1]
            state[key("weight")] = rs.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            if mod.bias is not None:
                state[key("bias")] = rs.normal(0.0, 0.1, state[key("bias")].shape)
    net.load_state_dict({k: np.asarray(v, dtype="float32") for k, v in state.items()})
    net.eval()


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with fixed zip timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())


def to_numpy_outputs(result: Any) -> list[np.ndarray]:
    """Flatten a net's return value (tensor or tuple of tensors) into numpy arrays."""
    if isinstance(result, mge.Tensor):
        return [result.numpy()]
    return [r.numpy() for r in result]


class Fixture:
    """One golden file: a net, its inputs, and how to dump it."""

    def __init__(
        self,
        name: str,
        description: str,
        net: M.Module,
        inputs: dict[str, np.ndarray],
        options: dict[str, Any],
        output_names: list[str] | None = None,
    ):
        self.name = name
        self.description = description
        self.net = net
        self.inputs = inputs
        self.options = options
        self.output_names = output_names
        # test-case containers get their own suffix: plain-model readers globbing
        # "*.mge" must not pick them up
        self.suffix = ".mgbtest" if "input_data" in options else ".mge"


def build(fx: Fixture, out_dir: str) -> dict[str, Any]:
    """Trace, dump, re-run and record one fixture; return its manifest entry."""
    mge_path = os.path.join(out_dir, fx.name + fx.suffix)
    args = [mge.tensor(v) for v in fx.inputs.values()]
    eager = to_numpy_outputs(fx.net(*args))

    traced = trace(lambda *xs: fx.net(*xs), symbolic=True, capture_as_const=True)
    replay = to_numpy_outputs(traced(*args))
    options = dict(fx.options)
    if "input_data" in options:  # dump() reads test-case inputs from files
        paths = []
        for i, case in enumerate(options["input_data"]):
            specs = []
            for key, arr in case.items():
                path = os.path.join(out_dir, f".{fx.name}.{i}.{key}.npy")
                np.save(path, arr)
                specs.append(f"{key}:{path}")
            paths.append(";".join(specs))
        options["input_data"] = paths
    try:
        traced.dump(mge_path, arg_names=list(fx.inputs), output_names=fx.output_names, **options)
    finally:
        for name in os.listdir(out_dir):
            if name.startswith(f".{fx.name}."):
                os.unlink(os.path.join(out_dir, name))

    with open(mge_path, "rb") as f:
        buf = f.read()
    model, case_blobs = split_container(buf)
    graph = describe_graph(model)
    out_names = [o["name"] for o in graph["outputs"]]
    input_names = sorted(i["name"] for i in graph["inputs"])
    cases = [dict(zip(input_names, read_testcase(b))) for b in case_blobs]
    feeds = dict(cases[0]) if cases else dict(fx.inputs)

    arrays: dict[str, np.ndarray] = {f"input/{k}": v for k, v in fx.inputs.items()}
    # eager outputs are keyed by the names given to dump() (a test-case file's output
    # is its AssertEqual var, which passes the traced output through)
    eager_names = fx.output_names or out_names
    arrays.update({f"eager/{k}": v for k, v in zip(eager_names, eager)})
    for runner, fn in (("lite", run_lite), ("graph", run_graph)):
        for key, value in fn(model, feeds):
            arrays[f"{runner}/{key}"] = value
    for i, case in enumerate(cases):
        arrays.update({f"testcase{i}/{k}": v for k, v in case.items()})
    write_npz(os.path.join(out_dir, fx.name + ".npz"), arrays)
    with open(os.path.join(out_dir, fx.name + ".graph.json"), "w") as f:
        json.dump(graph, f, indent=None, separators=(",", ":"), sort_keys=True)
        f.write("\n")

    def err(prefix: str) -> dict[str, float]:
        return {
            k: float(np.max(np.abs(arrays[f"{prefix}/{k}"].astype(np.float64) - e)))
            for k, e in zip(out_names, eager)
            if f"{prefix}/{k}" in arrays and arrays[f"{prefix}/{k}"].shape == e.shape
        }

    op_counts: dict[str, int] = {}
    for opr in graph["oprs"]:
        op_counts[opr["type"]] = op_counts.get(opr["type"], 0) + 1
    stored = peek(buf)["model"]
    file_oprs: dict[str, int] = {}
    for opr in stored["oprs"]:
        key = f"{opr['type']} v{opr['opr_version']} param={opr['param_tag']}"
        file_oprs[key] = file_oprs.get(key, 0) + 1
    return {
        "file": fx.name + fx.suffix,
        "npz": fx.name + ".npz",
        "graph": fx.name + ".graph.json",
        "description": fx.description,
        "dump_options": describe_options(fx.options),
        "container": "mgbtest0" if buf.startswith(b"mgbtest0") else "plain",
        "num_testcases": len(cases),
        "inputs": [
            {"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in fx.inputs.items()
        ],
        "file_inputs": graph["inputs"],
        "outputs": graph["outputs"],
        "op_types": graph["op_types"],
        "op_counts": dict(sorted(op_counts.items())),
        "file_oprs": dict(sorted(file_oprs.items())),
        "model_version": stored["model_version"],
        "mge_version": stored["mge_version"],
        "metadata": graph["metadata"],
        "max_abs_err_vs_eager": {"lite": err("lite"), "graph": err("graph")},
        "replay_matches_eager": all(
            np.allclose(a, b, rtol=1e-5, atol=1e-5) for a, b in zip(replay, eager)
        ),
        "size": len(buf),
        "sha256": hashlib.sha256(buf).hexdigest(),
    }


def describe_options(options: dict[str, Any]) -> dict[str, Any]:
    """JSON-able form of dump() keyword arguments (pickled objects shown by value)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "input_data":
            out[key] = [{k: list(v.shape) for k, v in case.items()} for case in value]
        else:
            out[key] = value
    return out


def make_input(rs: np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal float32 input."""
    return rs.standard_normal(shape).astype("float32")


def fixtures() -> list[Fixture]:
    """All golden fixtures, in a fixed order."""
    rs = np.random.RandomState(SEED)
    x16 = make_input(rs, (1, 3, 16, 16))
    x32 = make_input(rs, (1, 3, 32, 32))
    img = rs.randint(0, 256, (1, 24, 32, 3)).astype("uint8")

    def convnet() -> ConvNet:
        net = ConvNet()
        seeded_state(net, SEED + 1)
        return net

    def seeded(net: M.Module, seed: int) -> M.Module:
        seeded_state(net, seed)
        return net

    def net_fixture(name: str, desc: str, options: dict[str, Any], **kw: Any) -> Fixture:
        return Fixture(name, desc, convnet(), {"data": x16}, options, **kw)

    user_info = {"model": "convnet", "version": 3, "labels": [f"c{i}" for i in range(10)]}
    return [
        net_fixture(
            "convnet_plain",
            "ConvNet dumped as traced (optimize_for_inference=False); default output name",
            {"optimize_for_inference": False},
        ),
        net_fixture(
            "convnet_opt",
            "ConvNet with optimize_for_inference defaults (BN folded, FUSE_ADD_RELU)",
            {},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_fuse_cbn",
            "ConvNet with enable_fuse_conv_bias_nonlinearity (ConvBiasForward)",
            {"enable_fuse_conv_bias_nonlinearity": True},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_io16xc32",
            "ConvNet with enable_io16xc32: TypeCvt in, float16 tensors, float32 compute, "
            "TypeCvt back to float32 at the output",
            {"enable_io16xc32": True},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_ioc16",
            "ConvNet with enable_ioc16: float16 tensors and compute, float32 I/O",
            {"enable_ioc16": True},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_nchw44",
            "ConvNet with enable_nchw44 (NCHW44 ConvBias/Pooling, 5-D tensors inside)",
            {"enable_nchw44": True},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_keep_names",
            "ConvNet, unoptimized, keep_var_name=2, keep_opr_name, keep_param_name",
            {
                "optimize_for_inference": False,
                "keep_var_name": 2,
                "keep_opr_name": True,
                "keep_param_name": True,
            },
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_keep_var_name0",
            "ConvNet with keep_var_name=0: no middle tensors stored, output names synthesized",
            {"keep_var_name": 0},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_user_info",
            "ConvNet with user_info (a pickled dict in the metadata)",
            {"user_info": user_info},
            output_names=["logits"],
        ),
        net_fixture(
            "convnet_no_metadata",
            "ConvNet dumped with enable_metadata=False",
            {"enable_metadata": False},
            output_names=["logits"],
        ),
        Fixture(
            "two_outputs",
            "two named outputs (logits, prob); a dict return cannot be traced in 1.13",
            seeded(TwoHeads(), SEED + 2),
            {"data": x16},
            {},
            output_names=["logits", "prob"],
        ),
        net_fixture(
            "testcase_assert",
            "mgbtest0 container, one test case, AssertEqual checks inserted",
            {"input_data": [{"data": x16}], "optimize_for_inference": False},
            output_names=["logits"],
        ),
        net_fixture(
            "testcase_no_assert",
            "mgbtest0 container, two test cases, no_assert=True",
            {
                "input_data": [{"data": x16}, {"data": x16[:, :, ::-1].copy()}],
                "no_assert": True,
            },
            output_names=["logits"],
        ),
        Fixture(
            "preprocess",
            "uint8 NHWC image -> astype float32 -> warp_perspective NHWC resize 24x32->16x16 "
            "-> (x-mean)/std -> NCHW -> ConvNet",
            seeded(Preprocess((24, 32), (16, 16)), SEED + 3),
            {"data": img},
            {},
            output_names=["logits"],
        ),
        Fixture(
            "clip_bug",
            "F.clip(x, 0, 6): eager is right, the dumped file computes MIN(c0, MAX(x, c0))",
            ClipNet(),
            {"data": (rs.standard_normal((2, 8)) * 5).astype("float32")},
            {"optimize_for_inference": False},
            output_names=["out"],
        ),
        Fixture(
            "resnet18_w4_plain",
            "ResNet-18 (base width 4), unoptimized dump",
            seeded(ResNet18(width=4), SEED + 4),
            {"data": x32},
            {"optimize_for_inference": False},
            output_names=["logits"],
        ),
        Fixture(
            "resnet18_w4_fuse",
            "ResNet-18 (base width 4), enable_fuse_conv_bias_nonlinearity",
            seeded(ResNet18(width=4), SEED + 4),
            {"data": x32},
            {"enable_fuse_conv_bias_nonlinearity": True},
            output_names=["logits"],
        ),
        Fixture(
            "shufflenetv2_small",
            "ShuffleNetV2 (stages 16/32/64, repeats 2/3/2), optimize_for_inference defaults",
            seeded(ShuffleNetV2(), SEED + 5),
            {"data": x32},
            {},
            output_names=["logits"],
        ),
        Fixture(
            "mobilenetv2_small",
            "MobileNetV2 (reduced t/c/n/s table), optimize_for_inference defaults",
            seeded(MobileNetV2(), SEED + 6),
            {"data": x32},
            {},
            output_names=["logits"],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--only", nargs="*", help="build only these fixtures")
    args = parser.parse_args(argv)
    set_mgb_log_level("ERROR")
    mge.random.seed(SEED)
    os.makedirs(args.out, exist_ok=True)

    manifest_path = os.path.join(args.out, "manifest.json")
    entries: dict[str, Any] = {}
    if args.only and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            entries = json.load(f)["fixtures"]
    for fx in fixtures():
        if args.only and fx.name not in args.only:
            continue
        print(f"building {fx.name}", file=sys.stderr)
        entries[fx.name] = build(fx, args.out)
    manifest = {
        "generator": "tools/oracle/make_golden.py",
        "megengine_version": mge.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "fixtures": dict(sorted(entries.items())),
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
