"""``dump_with_testcase``: pack a ``.mge`` model, test inputs and expected outputs into
one file (MegEngine's ``mgbtest0`` container) that ``load_and_run`` runs and checks.

The expected outputs come from running the model as given; with
``--optimize-for-inference`` the file holds the optimized model, so the checks compare it
with the original. ``-d`` takes MegEngine's data specs (:mod:`mge.jit.input_data`):
``#rand(0,255)``, ``#rand(0,1,1,3,224,224)``, ``#rand(0,1,1,...)``, image files (png,
jpg, bmp...), ``.npy`` files, ``name:src;name2:src2`` for several inputs and
``@cases.txt`` (one spec per line); every ``-d`` adds test cases. Nothing is written
when anything fails; errors are one line, with exit status 2.

``--output-strip-info`` also writes ``OUTPUT.json``: the operator types, dtypes and
elemwise modes the file uses (MegEngine's strip info), and ``hash``, a 64-bit BLAKE2b of
the model blob (MegEngine 1.13 writes 0 there for FBS_V2 files).

Example:
    $ dump_with_testcase resnet18.mge -o resnet18.mgbtest -d "#rand(0,255)" -d cat.jpg \\
        --resize-input --optimize-for-inference --enable-fuse-conv-bias-nonlinearity
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from ..graph import passes
from ..graph.ir import Graph
from ..jit.testcase import TestcaseBuilder, load_testcase_model
from ..ops.elemwise import Elemwise
from ..runtime.specialize import ShapeError, specialize
from ..serialization.fbs import DType, Metadata
from ..serialization.mge_graph import dump_graph
from ..utils.atomic_file import write_file
from .cli import Parser, ToolError, add_option, run_tool

PROG = "dump_with_testcase"


def build_parser() -> Parser:
    """The command line (MegEngine's options and defaults)."""
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", help="the .mge model to pack")
    parser.add_argument("-o", "--output", required=True, help="the test-case file to write")
    parser.add_argument("-d", "--data", action="append", required=True, metavar="SPEC",
                        help="input data of one test case (repeat -d for more cases): "
                        "#rand(min,max[,dims]), an image or .npy file, name:src;name2:src2, "
                        "or @file with one spec per line")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repeat file data this many times along the batch axis (the model "
                        "then runs at that batch, as MegEngine's tool does)")
    parser.add_argument("--silent", action="store_true",
                        help="checks print nothing when run (AssertEqual verbose off)")
    add_option(parser, "--optimize-for-inference", action="store_true",
               help="optimize the model for inference (with the --enable-* options)")
    add_option(parser, "--no-assert", action="store_true",
               help="store inputs only: no expected outputs, no checks (for benchmarks)")
    parser.add_argument("--maxerr", type=float, default=1e-4,
                        help="largest error a check accepts")
    add_option(parser, "--resize-input", action="store_true",
               help="resize images to the input's height and width")
    add_option(parser, "--input-transform", metavar="EXPR",
               help="Python expression of data and np applied to file data, e.g. data/255")
    add_option(parser, "--discard-var-name", action="store_true",
               help="store no var or param names")
    add_option(parser, "--output-strip-info", action="store_true",
               help="also write OUTPUT.json: operator types, dtypes, elemwise modes, hash")
    for name in passes.OPTION_NAMES:
        add_option(parser, "--" + name.replace("_", "-"), action="store_true",
                   help=f"optimize_for_inference option {name}")
    return parser


def strip_info(graph: Graph, case_dtypes: Sequence[np.dtype], model: bytes) -> dict:
    """MegEngine's strip info for ``graph`` plus the test cases (``SharedDeviceTensor``)."""
    nodes = graph.ops()
    dtypes = {v.dtype for node in nodes for v in node.outputs} | set(case_dtypes)
    return {
        "dtypes": sorted({DType.from_numpy(d).name for d in dtypes}),
        "elemwise_modes": sorted({n.op.mode for n in nodes if isinstance(n.op, Elemwise)}),
        "opr_types": sorted({n.type for n in nodes} | {"SharedDeviceTensor"}),
        "hash": int.from_bytes(hashlib.blake2b(model, digest_size=8).digest(), "little"),
    }


def _describe(name: str, value: np.ndarray) -> str:
    stats = ""
    if value.size:
        v = value.astype(np.float64)
        stats = (f" range=({v.min():.2f},{v.max():.2f}) mean={v.mean():.2f} "
                 f"sd={v.std():.2f}")
    return f"  {name}: shape={value.shape} dtype={value.dtype}{stats}"


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: True for k in passes.OPTION_NAMES if getattr(args, k)}
    if not (math.isfinite(args.maxerr) and args.maxerr >= 0):
        raise ToolError(f"--maxerr must be a finite number >= 0, got {args.maxerr}")
    if options and not args.optimize_for_inference:
        raise ToolError(f"{', '.join('--' + k.replace('_', '-') for k in options)} "
                        "need --optimize-for-inference")
    loaded = load_testcase_model(args.input)
    if loaded.staged is not None:
        raise ToolError(f"{args.input}: its shapes depend on input values (nms, cond_take); "
                        "dump_with_testcase needs a model with static shapes")
    if loaded.cases:
        print(f"{args.input} is a test-case file: its {len(loaded.cases)} test cases are "
              "replaced")
    graph = loaded.graph
    try:
        builder = TestcaseBuilder(graph, args.data, repeat=args.repeat, silent=args.silent,
                                  no_assert=args.no_assert, maxerr=args.maxerr,
                                  resize_input=args.resize_input,
                                  input_transform=args.input_transform, specialize=specialize)
    except ShapeError as exc:  # data of another shape that the model cannot take
        raise ToolError(f"{args.input} cannot run on the test data: {exc}") from None
    meta = loaded.metadata if loaded.metadata.is_valid else Metadata(is_valid=False)
    if args.optimize_for_inference:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph, bits = passes.optimize_for_inference(graph, **options)
        for w in caught:
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)
        meta = Metadata(is_valid=True, graph_modified=meta.graph_modified,
                        optimize_options=bits, user_info=meta.user_info)
    try:
        graph = builder.finish(graph)
        keep = 0 if args.discard_var_name else 2
        model, info = dump_graph(graph, keep_var_name=keep, keep_param_name=keep > 0,
                                 metadata=meta)
        data = builder.pack(model, graph)
    except ValueError as exc:  # GraphError, OpError and the checks' own problems
        raise ToolError(f"cannot pack {args.input} with its test cases: {exc}") from None
    for k, case in enumerate(builder.cases):
        print(f"add testcase {k}:")
        for name in sorted(case):
            print(_describe(name, case[name]))
    write_file(args.output, data)
    if args.output_strip_info:
        dtypes = [v.dtype for case in builder.cases for v in case.values()]
        text = json.dumps(strip_info(graph, dtypes, model), sort_keys=True)
        write_file(args.output + ".json", text.encode())
    print(f"graph dump sizes: tot_size={info.tot_bytes / 1024:.3f}KiB "
          f"overhead={(info.tot_bytes - info.tensor_value_bytes) / 1024:.3f}KiB")
    print(f"wrote {args.output}: {len(builder.cases)} test cases, {len(data)} bytes")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``dump_with_testcase input -o output -d spec [-d spec ...] [options]``."""
    return run_tool(PROG, _main, argv)


__all__ = ["build_parser", "main", "strip_info"]

if __name__ == "__main__":
    sys.exit(main())
