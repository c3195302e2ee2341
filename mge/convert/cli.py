"""``python -m mge.convert <command> ...``: the conversion command line.

Commands are registered with :func:`register_command` (name, help, an argument
builder and a runner returning the exit status), so each direction of conversion adds
its own subcommand. Names follow mgeconvert (``onnx_to_tracedmodule``, ...).

Example:
    $ python -m mge.convert onnx_to_tracedmodule -i model.onnx -o model.tm --check
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

    from .onnx_import import UnsupportedOnnxError, from_onnx

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


__all__ = ["COMMANDS", "Command", "build_parser", "main", "register_command"]
