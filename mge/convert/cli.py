"""``python -m mge.convert <command> ...``: the conversion command line.

Commands are registered with :func:`register_command` (name, help, an argument
builder and a runner returning the exit status), so each direction of conversion adds
its own subcommand. Names follow mgeconvert (``onnx_to_tracedmodule``, ...).

Example:
    $ python -m mge.convert onnx_to_tracedmodule -i model.onnx -o model.tm --check
    $ python -m mge.convert mge_to_onnx -i model.mge -o model.onnx --opset 13
    $ mge convert model.mge -o model.onnx        # the direction follows the file names
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: ``configure(parser)`` adds its arguments, ``run(args)`` executes it."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def register_command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorator registering ``run(args) -> exit status`` as subcommand ``name``."""

    def deco(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        if name in COMMANDS:
            raise ValueError(f"convert command {name!r} registered twice")
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return deco


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mge.convert", description="Convert models to and from mge."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS.values():
        command.configure(sub.add_parser(command.name, help=command.help,
                                         description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the chosen command."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)


# ------------------------------------------------------------------ onnx -> mge
def _configure_onnx_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="the .onnx model to import")
    parser.add_argument("-o", "--output", required=True,
                        help="where to write the TracedModule (mge.save pickle, .tm)")
    parser.add_argument("--check", action="store_true",
                        help="compare with onnxruntime on random inputs and report the error")
    parser.add_argument("--no-trace", action="store_true",
                        help="save the eager OnnxModule instead of a TracedModule")


def _check_against_onnxruntime(path: str, net: Callable) -> float:
    """Max abs difference between onnxruntime and ``net`` on seeded random inputs."""
    import onnxruntime

    import mge

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        feeds[arg.name] = rng.standard_normal(shape).astype(np.float32)
    want = session.run(None, feeds)
    got = net(*(mge.tensor(v) for v in feeds.values()))
    got = got if isinstance(got, tuple) else (got,)
    return max(float(np.max(np.abs(g.numpy() - w), initial=0.0)) for g, w in zip(got, want))


@register_command("onnx_to_tracedmodule", "import an ONNX model and save it with mge.save",
                  _configure_onnx_import)
def _onnx_to_tracedmodule(args: argparse.Namespace) -> int:
    import mge

    from .onnx import UnsupportedOnnxError, from_onnx

    try:
        net = from_onnx(args.input, trace=not args.no_trace)
    except UnsupportedOnnxError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        error = _check_against_onnxruntime(args.input, net)
        print(f"max abs difference vs onnxruntime: {error:.3g}")
    mge.save(net, args.output)
    print(f"wrote {type(net).__name__} to {args.output}")
    return 0


# ------------------------------------------------------------------ mge -> onnx
def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="the model to export")
    parser.add_argument("-o", "--output", required=True, help="where to write the .onnx file")
    _export_options(parser)


def _export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (13 and up)")
    parser.add_argument("--input-names", help="comma-separated ONNX input names")
    parser.add_argument("--output-names", help="comma-separated ONNX output names")
    parser.add_argument("--dynamic-batch", action="store_true",
                        help="make the batch dimension symbolic")
    parser.add_argument("--fp16", action="store_true", help="compute in float16")
    parser.add_argument("--no-optimize", action="store_true",
                        help="skip the inference passes (BatchNorm folding, fusion)")
    parser.add_argument("--check", action="store_true",
                        help="run the ONNX file in onnxruntime on random inputs and report "
                             "the largest difference from mge")


def _check_export(source: object, path: str) -> float:
    """Max abs difference between onnxruntime on ``path`` and mge on seeded inputs."""
    import onnxruntime

    from ..runtime.executor import Executor
    from .onnx.exporter import source_graph

    graph, _, _ = source_graph(source)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = []
    for var in graph.inputs:
        if var.dtype.kind == "f":
            feeds.append(rng.standard_normal(var.shape).astype(var.dtype))
        else:
            feeds.append(rng.integers(0, 100, var.shape).astype(var.dtype))
    want = Executor(graph).run(*feeds)
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, feeds)))
    return max(float(np.max(np.abs(g.astype(np.float64) - w), initial=0.0))
               for g, w in zip(got, want))


def _export(source: object, args: argparse.Namespace) -> int:
    from .onnx import OnnxExportError, to_onnx

    try:
        model = to_onnx(source, args.output, opset=args.opset,
                        input_names=_names(args.input_names),
                        output_names=_names(args.output_names),
                        dynamic_batch=args.dynamic_batch, fp16=args.fp16,
                        optimize=not args.no_optimize)
    except (OnnxExportError, TypeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {args.output}: opset {args.opset}, {len(model.graph.node)} nodes, inputs "
          f"{[i.name for i in model.graph.input]}, outputs {[o.name for o in model.graph.output]}")
    if args.check:
        print(f"max abs difference vs mge: {_check_export(source, args.output):.3g}")
    return 0


@register_command("mge_to_onnx", "export a .mge model to ONNX", _configure_export)
def _mge_to_onnx(args: argparse.Namespace) -> int:
    return _export(args.input, args)


@register_command("tracedmodule_to_onnx",
                  "export a TracedModule saved with mge.save (.tm, .pkl) to ONNX",
                  _configure_export)
def _tracedmodule_to_onnx(args: argparse.Namespace) -> int:
    import mge
    from mge.traced_module import TracedModule

    try:
        module = mge.load(args.input)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.input}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(module, TracedModule):
        print(f"{args.input} holds a {type(module).__name__}, not a TracedModule",
              file=sys.stderr)
        return 2
    return _export(module, args)


# ------------------------------------------------------------------ onnx -> .mge
def _configure_onnx_to_mge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="the .onnx model to import")
    parser.add_argument("-o", "--output", required=True, help="where to write the .mge file")


@register_command("onnx_to_mge", "import an ONNX model and dump it as a .mge file",
                  _configure_onnx_to_mge)
def _onnx_to_mge(args: argparse.Namespace) -> int:
    from .onnx import OnnxImportError
    from .onnx.importer.mge_file import onnx_to_mge

    try:
        onnx_to_mge(args.input, args.output)
    except OnnxImportError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


# ------------------------------------------------------------------ by file type
def _configure_auto(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="a .mge file or pickled TracedModule (-> .onnx), or "
                                      "an .onnx file (-> .mge, or a TracedModule pickle)")
    parser.add_argument("-o", "--output", required=True, help="the file to write")
    _export_options(parser)


@register_command("convert", "convert by file type: .mge or a pickled TracedModule to "
                             ".onnx; .onnx to .mge (or to a TracedModule with .tm/.pkl)",
                  _configure_auto)
def _auto(args: argparse.Namespace) -> int:
    if args.output.endswith(".onnx"):
        return _export(args.input, args)
    if not args.input.endswith(".onnx"):
        print(f"cannot tell how to convert {args.input} to {args.output}: one of them must "
              "be an .onnx file", file=sys.stderr)
        return 2
    if args.output.endswith(".mge"):
        return _onnx_to_mge(args)
    return _onnx_to_tracedmodule(argparse.Namespace(
        input=args.input, output=args.output, check=args.check, no_trace=False))


def mge_main(argv: Sequence[str] | None = None) -> int:
    """The ``mge`` console script: ``mge convert INPUT -o OUTPUT [options]`` (or
    ``mge convert <command> ...`` with any command of ``python -m mge.convert``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "convert":
        print("usage: mge convert INPUT -o OUTPUT [options]   (mge convert --help)",
              file=sys.stderr)
        return 2
    rest = args[1:]
    if rest and rest[0] in COMMANDS:
        return main(rest)
    return main(["convert", *rest])


__all__ = ["COMMANDS", "Command", "build_parser", "main", "mge_main", "register_command"]
