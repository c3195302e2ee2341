"""``python -m mge.compat run (SCRIPT | -m MODULE) [ARGS...]``: run unmodified MegEngine code
on mge, with ``megengine``/``megenginelite`` imports aliased to mge (see :mod:`mge.compat`).

Example:
    $ python -m mge.compat run dump_resnet.py --batch 1
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence

from . import install_megengine_alias

USAGE = "usage: python -m mge.compat run (SCRIPT | -m MODULE) [ARGS...]"


def main(argv: Sequence[str] | None = None) -> int:
    """Install the alias, then run a script or module as ``__main__`` with ``ARGS``.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "run" or args[1:] == ["-m"]:
        print(USAGE, file=sys.stderr)
        return 2
    install_megengine_alias()
    if args[1] == "-m":
        sys.argv = args[2:]
        runpy.run_module(args[2], run_name="__main__", alter_sys=True)
    else:
        script = args[1]
        sys.argv = args[1:]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
