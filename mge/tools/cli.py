"""What the command-line tools share: one-line errors with exit status 2, ``--a-b`` and
``--a_b`` spellings of every option.

Example:
    >>> parser = Parser(prog="tool")
    >>> _ = add_option(parser, "--warmup-iter", type=int, default=1)
    >>> parser.parse_args(["--warmup_iter", "3"]).warmup_iter
    3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..core.opdef import OpError
from ..graph.ir import GraphError
from ..jit.input_data import InputDataError
from ..lite import LiteError
from ..serialization.fbs import MgeFormatError
from ..serialization.memory_budget import BUDGET_ENV, MemoryBudgetError

#: exit status of a usage or input error (argparse's convention)
USAGE_ERROR = 2
#: exit status after Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


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


def run_tool(prog: str, body: Callable[[Sequence[str] | None], int],
             argv: Sequence[str] | None) -> int:
    """Run ``body(argv)``; expected failures print ``prog: error: ...`` and return 2.

    Reported in one line: usage errors, unreadable or malformed files, data that do not
    fit the model, mge's graph and op errors (``GraphError``, ``OpError``), Lite errors,
    memory budget errors and running out of memory. Ctrl-C prints ``prog: interrupted``
    and returns 130, as shells do.
    """
    try:
        return body(argv)
    except SystemExit as exc:  # argparse's --help and usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (ToolError, InputDataError, MgeFormatError, MemoryBudgetError, GraphError, OpError,
            LiteError) as exc:
        message = str(exc)
    except MemoryError as exc:
        message = (f"out of memory{': ' + str(exc) if str(exc) else ''} (a smaller "
                   f"{BUDGET_ENV} makes loading refuse such models)")
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return USAGE_ERROR


__all__ = ["INTERRUPTED", "USAGE_ERROR", "Parser", "ToolError", "add_option", "run_tool"]
