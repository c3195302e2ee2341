"""``python -m mge.serve [serve] MODEL ...`` / ``python -m mge.serve batch-predict ...``."""

import sys

from .cli import main

sys.exit(main())
