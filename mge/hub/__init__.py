"""``mge.hub``: MegEngine's hub (``megengine.hub``) for mge.

Load model entry points from a repository's ``hubconf.py`` (a local directory, a git
repository on a host or in a local directory, or a GitHub-style archive) and pretrained
weights from URLs into a checksummed, resumable cache under ``$MGE_HOME``. Loading a
hubconf runs the repository's code: use trusted repositories only.

Example:
    >>> import mge.hub as hub
    >>> sorted(hub.list("/path/to/mge"))                       # doctest: +SKIP
    ['mobilenet_v2', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0']
"""

from .download import download_url_to_file
from .exceptions import (
    ChecksumMismatchError,
    FetcherError,
    GitCheckoutError,
    GitPullError,
    HTTPDownloadError,
    InvalidGitHost,
    InvalidProtocol,
    InvalidRepo,
)
from .hub import (
    get_mge_home,
    help,
    import_module,
    list,
    load,
    load_serialized_obj_from_url,
    pretrained,
)

__all__ = [
    "ChecksumMismatchError",
    "FetcherError",
    "GitCheckoutError",
    "GitPullError",
    "HTTPDownloadError",
    "InvalidGitHost",
    "InvalidProtocol",
    "InvalidRepo",
    "download_url_to_file",
    "get_mge_home",
    "help",
    "import_module",
    "list",
    "load",
    "load_serialized_obj_from_url",
    "pretrained",
]
