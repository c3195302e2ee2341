"""What the command-line tools share: one-line errors with exit status 2, ``--a-b`` and
``--a_b`` spellings of every option, writing output files whole or not at all.

Example:
    >>> parser = Parser(prog="tool")
    >>> _ = add_option(parser, "--warmup-iter", type=int, default=1)
    >>> parser.parse_args(["--warmup_iter", "3"]).warmup_iter
    3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..jit.input_data import InputDataError
from ..serialization.fbs import MgeFormatError

#: exit status of a usage or input error (argparse's convention)
USAGE_ERROR = 2


class ToolError(Exception):
    """A problem with the command line or its inputs, reported in one line (exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``prog: error: message``."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def add_option(parser: argparse.ArgumentParser | Any, name: str, *more: str,
               **kwargs: Any) -> argparse.Action:
    """Add option ``--a-b`` that also answers to ``--a_b`` (gflags style, as MegEngine's
    scripts spell them)."""
    names = [name, *more]
    alias = name.replace("-", "_").replace("__", "--", 1)
    if alias != name:
        names.append(alias)
    return parser.add_argument(*names, **kwargs)


def write_whole(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file: a failure leaves no partial file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run_tool(prog: str, body: Callable[[Sequence[str] | None], int],
             argv: Sequence[str] | None) -> int:
    """Run ``body(argv)``; expected failures print ``prog: error: ...`` and return 2."""
    try:
        return body(argv)
    except SystemExit as exc:  # argparse's --help and usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except (ToolError, InputDataError, MgeFormatError) as exc:
        message = str(exc)
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return USAGE_ERROR


__all__ = ["USAGE_ERROR", "Parser", "ToolError", "add_option", "run_tool", "write_whole"]
