"""``python -m mge.convert``: see :mod:`mge.convert.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
