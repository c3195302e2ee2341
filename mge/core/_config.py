"""``megengine.core._config``, MegEngine's home of the execution settings: here it is the
very module :mod:`mge.config` (MegEngine's ``megengine.config`` re-exports it), so reads
and writes through either name reach the same settings.

Example:
    >>> import mge
    >>> from mge.core import _config
    >>> _config is mge.config
    True
"""

from __future__ import annotations

import sys

from .. import config

sys.modules[__name__] = config
