"""``python -m mge.demo`` (see :mod:`mge.demo.cli`)."""

import sys

from .cli import main

sys.exit(main())
