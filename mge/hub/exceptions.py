"""Errors raised by :mod:`mge.hub` (MegEngine's ``hub.exceptions``, plus download errors).

Example:
    >>> from mge.hub.exceptions import ChecksumMismatchError, HTTPDownloadError
    >>> issubclass(ChecksumMismatchError, HTTPDownloadError)
    True
"""


class FetcherError(Exception):
    """Base class for errors while fetching a repository or a file."""


class InvalidRepo(FetcherError):
    """The ``repo_info`` given is malformed or names no repository."""


class InvalidGitHost(FetcherError):
    """The ``git_host`` given is malformed."""


class GitPullError(FetcherError):
    """``git clone`` (or downloading a repository archive) failed."""


class GitCheckoutError(FetcherError):
    """``git checkout <commit>`` failed."""


class InvalidProtocol(FetcherError):
    """The ``protocol`` given is neither ``"HTTPS"`` nor ``"SSH"``."""


class HTTPDownloadError(FetcherError):
    """A file could not be downloaded (network down, HTTP error, interrupted transfer)."""


class ChecksumMismatchError(HTTPDownloadError):
    """A downloaded file's sha256 differs from the expected one (the file was discarded)."""
