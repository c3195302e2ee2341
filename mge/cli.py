"""The ``mge`` console script: one entry point for mge's commands.

``mge convert ...`` converts models (ONNX <-> ``.mge``, see :mod:`mge.convert.cli`),
``mge serve ...`` serves ``.mge`` models over HTTP with the KServe v2 protocol and
``mge batch-predict ...`` runs offline batch inference (see :mod:`mge.serve.cli`).

Example:
    >>> main(["--help"])   # doctest: +SKIP
    usage: mge <command> [arguments]
    ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .convert.cli import mge_main as convert_main
from .serve.cli import main as serve_main

_HELP = """\
usage: mge <command> [arguments]

mge's command line.

commands:
  convert        convert models between ONNX and MegEngine formats
                   mge convert INPUT -o OUTPUT [options]      (mge convert --help)
  serve          serve .mge models over HTTP (KServe v2 protocol, dynamic batching)
                   mge serve MODEL_OR_REPOSITORY [options]    (mge serve --help)
  batch-predict  offline batch inference over a folder of images or parquet (Ray Data)
                   mge batch-predict MODEL --input IN --output OUT (mge batch-predict --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mge <command> ...``; returns the exit status (2 for a usage error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(_HELP, end="")
        return 0
    if args and args[0] in ("serve", "batch-predict"):
        return serve_main(args)
    if args and args[0] == "convert":
        return convert_main(args)
    problem = f"unknown command {args[0]!r}" if args else "no command given"
    print(f"{_HELP}\nmge: error: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
