"""``python -m mge.convert <command> ...``: the conversion command line.

Commands are registered with :func:`register_command` (name, help, an argument
builder and a runner returning the exit status), so each direction of conversion adds
its own subcommand. Names follow mgeconvert (``onnx_to_tracedmodule``, ...). Problems
end in a one-line ``error:`` message on stderr and exit status 2.

A ``.mge`` input is only ever parsed as a model. A pickled TracedModule (``mge.save``)
is loaded, with ``mge.load``, only when asked for: ``tracedmodule_to_onnx`` or
``convert --traced-module``.

Example:
    $ python -m mge.convert onnx_to_tracedmodule -i model.onnx -o model.tm --check
    $ python -m mge.convert mge_to_onnx -i model.mge -o model.onnx --opset 13
    $ mge convert model.mge -o model.onnx        # the direction follows the file names
    $ mge convert --traced-module model.tm -o model.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import pickle
import sys
from collections.abc import Callable, Sequence

import numpy as np

from ..runtime.executor import Executor
from ..serialization import load, save
from ..tensor import Tensor
from ..traced_module import TracedModule
from .onnx import OnnxError, from_onnx, onnx_to_mge, to_onnx
from .onnx.exporter import source_graph
from .onnx.files import check_destination, write_file


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


def build_parser(prog: str = "python -m mge.convert") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Convert models to and from mge.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS.values():
        command.configure(sub.add_parser(command.name, help=command.help,
                                         description=command.help))
    return parser


class CommandError(Exception):
    """A command-line problem reported as one line with exit status 2."""


def main(argv: Sequence[str] | None = None, prog: str = "python -m mge.convert") -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the chosen command."""
    args = build_parser(prog).parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (OnnxError, CommandError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


# ------------------------------------------------------------------ onnx -> mge
def _configure_onnx_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="the .onnx model to import")
    parser.add_argument("-o", "--output", required=True,
                        help="where to write the TracedModule (mge.save pickle, .tm)")
    parser.add_argument("--check", action="store_true",
                        help="compare with onnxruntime on random inputs and report the error")
    parser.add_argument("--no-trace", action="store_true",
                        help="save the eager OnnxModule instead of a TracedModule")
    _int8_option(parser)


def _check_against_onnxruntime(path: str, net: Callable) -> float:
    """Max abs difference between onnxruntime and ``net`` on seeded random inputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        feeds[arg.name] = rng.standard_normal(shape).astype(np.float32)
    want = session.run(None, feeds)
    got = net(*(Tensor(v) for v in feeds.values()))
    got = got if isinstance(got, tuple) else (got,)
    return max(float(np.max(np.abs(g.numpy() - w), initial=0.0)) for g, w in zip(got, want))


@register_command("onnx_to_tracedmodule", "import an ONNX model and save it with mge.save",
                  _configure_onnx_import)
def _onnx_to_tracedmodule(args: argparse.Namespace) -> int:
    check_destination(args.output, "the TracedModule")
    net = from_onnx(args.input, trace=not args.no_trace, int8=args.int8)
    if args.int8:
        print(f"int8 import: {net.int8_summary}")
    if args.check:
        error = _check_against_onnxruntime(args.input, net)
        print(f"max abs difference vs onnxruntime: {error:.3g}")
    buffer = io.BytesIO()
    save(net, buffer)
    write_file(args.output, buffer.getvalue(), "the TracedModule")
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
                             "the largest difference from mge (a quantized graph: from "
                             "mge's exact int8 kernels)")


def _check_export(source: object, path: str) -> float:
    """Max abs difference between onnxruntime on ``path`` and mge on seeded inputs."""
    import onnxruntime

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
    model = to_onnx(source, args.output, opset=args.opset,
                    input_names=_names(args.input_names),
                    output_names=_names(args.output_names),
                    dynamic_batch=args.dynamic_batch, fp16=args.fp16,
                    optimize=not args.no_optimize)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    print(f"wrote {args.output}: opset {opset}, {len(model.graph.node)} nodes, inputs "
          f"{[i.name for i in model.graph.input]}, outputs {[o.name for o in model.graph.output]}")
    if args.check:
        print(f"max abs difference vs mge: {_check_export(source, args.output):.3g}")
    return 0


def _load_traced_module(path: str) -> TracedModule:
    """``mge.load`` a TracedModule (asked for explicitly: a pickle can hold code)."""
    try:
        module = load(path)
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise CommandError(f"cannot load {path} with mge.load: {exc}") from None
    if not isinstance(module, TracedModule):
        raise CommandError(f"{path} holds a {type(module).__name__}, not a TracedModule")
    return module


@register_command("mge_to_onnx", "export a .mge model to ONNX", _configure_export)
def _mge_to_onnx(args: argparse.Namespace) -> int:
    return _export(args.input, args)


@register_command("tracedmodule_to_onnx",
                  "export a TracedModule saved with mge.save (.tm, .pkl) to ONNX; it is "
                  "loaded with mge.load",
                  _configure_export)
def _tracedmodule_to_onnx(args: argparse.Namespace) -> int:
    return _export(_load_traced_module(args.input), args)


# ------------------------------------------------------------------ onnx -> .mge
def _configure_onnx_to_mge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="the .onnx model to import")
    parser.add_argument("-o", "--output", required=True, help="where to write the .mge file")
    _int8_option(parser)


def _int8_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--int8", action="store_true",
                        help="a QDQ model's QuantizeLinear/DequantizeLinear patterns become "
                             "MegEngine's quantized graph (qint8 ConvBias, ElemwiseMultiType, "
                             "TypeCvt: an int8 .mge; MegEngine's rounding) instead of exact "
                             "float emulations")


@register_command("onnx_to_mge", "import an ONNX model and dump it as a .mge file",
                  _configure_onnx_to_mge)
def _onnx_to_mge(args: argparse.Namespace) -> int:
    summary = onnx_to_mge(args.input, args.output, int8=args.int8)
    if summary is not None:
        print(f"int8 import: {summary}")
    print(f"wrote {args.output}")
    return 0


# ------------------------------------------------------------------ by file type
def _configure_auto(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="a .mge file (-> .onnx), or an .onnx file (-> .mge, "
                                      "or a TracedModule pickle with .tm/.pkl)")
    parser.add_argument("-o", "--output", required=True, help="the file to write")
    parser.add_argument("--traced-module", action="store_true",
                        help="the input is a TracedModule saved with mge.save; load it with "
                             "mge.load (a pickle can run code: only for files you trust)")
    _export_options(parser)
    _int8_option(parser)


@register_command("convert", "convert by file type: .mge (or, with --traced-module, a "
                             "pickled TracedModule) to .onnx; .onnx to .mge (or to a "
                             "TracedModule with .tm/.pkl)",
                  _configure_auto)
def _auto(args: argparse.Namespace) -> int:
    if args.output.endswith(".onnx"):
        source = _load_traced_module(args.input) if args.traced_module else args.input
        return _export(source, args)
    if not args.input.endswith(".onnx"):
        raise CommandError(f"cannot tell how to convert {args.input} to {args.output}: one "
                           "of them must be an .onnx file")
    if args.output.endswith(".mge"):
        return _onnx_to_mge(args)
    return _onnx_to_tracedmodule(argparse.Namespace(
        input=args.input, output=args.output, check=args.check, no_trace=False,
        int8=args.int8))


# ------------------------------------------------------------------ the mge script
_MGE_HELP = """\
usage: mge <command> [arguments]

mge's command line.

commands:
  convert   convert models between ONNX and MegEngine formats:
              mge convert INPUT -o OUTPUT [options]   (the direction follows the names:
                                                       .mge -> .onnx, .onnx -> .mge/.tm)
              mge convert <subcommand> ...
            subcommands: {subcommands}

Run "mge convert --help" or "mge convert <subcommand> --help" for the options.
"""


def mge_main(argv: Sequence[str] | None = None) -> int:
    """The ``mge`` console script: ``mge convert INPUT -o OUTPUT [options]`` (or
    ``mge convert <command> ...`` with any command of ``python -m mge.convert``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = _MGE_HELP.format(subcommands=", ".join(c for c in COMMANDS if c != "convert"))
    if args and args[0] in ("-h", "--help"):
        print(text, end="")
        return 0
    if not args or args[0] != "convert":
        problem = f"unknown command {args[0]!r}" if args else "no command given"
        print(f"{text}\nmge: error: {problem}", file=sys.stderr)
        return 2
    rest = args[1:]
    if rest and rest[0] in COMMANDS:
        return main(rest, prog="mge convert")
    return main(["convert", *rest], prog="mge")


__all__ = ["COMMANDS", "Command", "CommandError", "build_parser", "main", "mge_main",
           "register_command"]
