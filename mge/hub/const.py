"""Names and defaults shared by the hub modules (MegEngine's ``hub.const``, plus mge's own)."""

DEFAULT_BRANCH_NAME = "master"
HUBCONF = "hubconf.py"
HUBDEPENDENCY = "dependencies"
DEFAULT_GIT_HOST = "github.com"
DEFAULT_PROTOCOL = "HTTPS"
ENV_MGE_HOME = "MGE_HOME"
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
DEFAULT_CACHE_DIR = "~/.cache"
#: seconds to wait for a connection or for the next bytes of a download
HTTP_TIMEOUT = 30.0
#: seconds a whole download may take
DOWNLOAD_DEADLINE = 3600.0
#: a fetched repository archive may unpack to at most this many files and bytes
MAX_REPO_FILES = 20_000
MAX_REPO_BYTES = 1 << 30
#: seconds a ``git clone``/``git checkout`` may take
GIT_TIMEOUT = 600.0
CHUNK_SIZE = 1 << 20
