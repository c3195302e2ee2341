"""MegEngine's hub API: models from repositories with a ``hubconf.py``, weights from URLs.

A repository is a local directory holding ``hubconf.py`` or ``"owner/repo[:branch_or_tag]"``
on ``git_host`` (see :mod:`mge.hub.fetcher`: GitHub-style archives, SSH, or local git
repositories). Every public callable of ``hubconf.py`` whose name does not start with
``__`` is an entry; a module-level ``dependencies`` list names modules that must be
importable before :func:`load` calls an entry.

**Loading a hubconf runs that repository's Python code with your privileges; use only
repositories you trust.** Weights are different: ``.mge`` files are data, and pickled
weights load with :func:`mge.load`'s restricted unpickler (``weights_only=True``: tensors,
arrays, containers, state dicts only; a pickle that would run code is refused).

Caches live under ``$MGE_HOME`` (default ``$XDG_CACHE_HOME/mge``, else ``~/.cache/mge``):
repositories in ``hub/``, weights in ``serialized/<sha256(url)[:6]>_<file name>``.

Example:
    >>> import mge.hub as hub
    >>> hub.list("/path/to/repo")                                      # doctest: +SKIP
    ['mobilenet_v2', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0']
    >>> net = hub.load("megengine/models", "resnet18", pretrained=True)  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import importlib.util
import os
import pickle
import re
import sys
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from ..serialization import load as _load_pickle
from ..serialization.restricted_unpickler import WeightsOnlyUnpicklingError
from .const import (
    DEFAULT_CACHE_DIR,
    DEFAULT_GIT_HOST,
    DEFAULT_PROTOCOL,
    ENV_MGE_HOME,
    ENV_XDG_CACHE_HOME,
    HUBCONF,
    HUBDEPENDENCY,
)
from .download import download_url_to_file
from .exceptions import InvalidRepo
from .fetcher import fetch_repo

_NAME_HASH = re.compile(r"[-_]([0-9a-f]{6,64})\.[A-Za-z0-9]+$")


def get_mge_home() -> str:
    """The cache root: ``$MGE_HOME``, else ``$XDG_CACHE_HOME/mge``, else ``~/.cache/mge``.

    Example:
        >>> import os
        >>> os.environ["MGE_HOME"] = "/tmp/mge-home"
        >>> get_mge_home()
        '/tmp/mge-home'
        >>> del os.environ["MGE_HOME"]
    """
    default = os.path.join(os.getenv(ENV_XDG_CACHE_HOME, DEFAULT_CACHE_DIR), "mge")
    return os.path.expanduser(os.getenv(ENV_MGE_HOME, default))


def overridable_cache_path(env_var: str, *parts: str) -> str | None:
    """``$env_var`` if set (``""`` or ``"0"``: ``None``, turned off), else ``parts`` under
    :func:`get_mge_home`: where one of mge's caches keeps its file or folder.

    Example:
        >>> import os
        >>> os.environ["MGE_HOME"] = "/tmp/mge-home"
        >>> overridable_cache_path("MGE_SOME_CACHE", "lite", "some.cache")
        '/tmp/mge-home/lite/some.cache'
        >>> del os.environ["MGE_HOME"]
    """
    path = os.environ.get(env_var)
    if path is not None:
        return None if path in ("", "0") else os.path.expanduser(path)
    return os.path.join(get_mge_home(), *parts)


def _local_dir(repo_info: str | os.PathLike) -> str | None:
    """``repo_info`` as a local directory (a PathLike, absolute, or ``.``/``~`` relative)."""
    if isinstance(repo_info, os.PathLike) or os.path.isabs(repo_info) or (
        repo_info.startswith((".", "~"))
    ):
        return os.path.abspath(os.path.expanduser(os.fspath(repo_info)))
    return None


def _load_hubconf(repo_dir: str) -> types.ModuleType:
    path = os.path.join(repo_dir, HUBCONF)
    if not os.path.isfile(path):
        raise InvalidRepo(f"mge.hub: {repo_dir} has no {HUBCONF}")
    spec = importlib.util.spec_from_file_location("hubconf", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, repo_dir)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(repo_dir)
    return module


def import_module(
    repo_info: str | os.PathLike,
    git_host: str = DEFAULT_GIT_HOST,
    use_cache: bool = True,
    commit: str | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> types.ModuleType:
    """Fetch a repository (unless it is a local directory) and import its ``hubconf.py``.

    Args:
        repo_info: a local directory holding ``hubconf.py``, or
            ``"owner/repo[:branch_or_tag]"`` (default branch: ``master`` for archives,
            the repository's default for git clones).
        git_host: a host name (``github.com``), an ``http(s)://`` URL serving archives, or
            a local directory / ``file://`` URL holding git repositories as
            ``<owner>/<repo>``.
        use_cache: reuse an earlier fetch instead of fetching again.
        commit: a commit to check out.
        protocol: ``"HTTPS"`` (zip archives) or ``"SSH"`` (``git clone``) for host names.

    Returns:
        the hubconf module. This runs the repository's code: use trusted repositories only.

    Example:
        >>> hubconf = import_module("/path/to/repo")  # doctest: +SKIP
        >>> net = hubconf.resnet18()                   # doctest: +SKIP
    """
    local = _local_dir(repo_info)
    if local is not None:
        if not os.path.isdir(local):
            raise InvalidRepo(f"mge.hub: {local} is not a directory")
        return _load_hubconf(local)
    cache_dir = os.path.join(get_mge_home(), "hub")
    return _load_hubconf(
        fetch_repo(git_host, os.fspath(repo_info), cache_dir, use_cache, commit, protocol)
    )


def _entry(hubconf: types.ModuleType, entry: str) -> Callable[..., Any]:
    found = getattr(hubconf, entry, None)
    if not callable(found):
        raise RuntimeError(
            f"Cannot find callable {entry} in {hubconf.__file__}; "
            f"entries: {', '.join(_entries(hubconf))}"
        )
    return found


def _entries(hubconf: types.ModuleType) -> builtins.list[str]:
    return [name for name in dir(hubconf)
            if not name.startswith("__") and callable(getattr(hubconf, name))]


def list(
    repo_info: str | os.PathLike,
    git_host: str = DEFAULT_GIT_HOST,
    use_cache: bool = True,
    commit: str | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> builtins.list[str]:
    """The entry points of a repository's ``hubconf.py`` (arguments as :func:`import_module`).

    Example:
        >>> list("/path/to/mge")  # doctest: +SKIP
        ['mobilenet_v2', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0']
    """
    return _entries(import_module(repo_info, git_host, use_cache, commit, protocol))


def load(
    repo_info: str | os.PathLike,
    entry: str,
    *args: Any,
    git_host: str = DEFAULT_GIT_HOST,
    use_cache: bool = True,
    commit: str | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    **kwargs: Any,
) -> Any:
    """Call ``entry(*args, **kwargs)`` from a repository's ``hubconf.py``.

    Other arguments are as for :func:`import_module`; ``pretrained=True`` (passed on to
    entries made with :class:`pretrained`) also loads the published weights.

    Raises:
        RuntimeError: when ``entry`` is not a callable of the hubconf, or a module in its
            ``dependencies`` is missing.

    Example:
        >>> net = load("/path/to/mge", "resnet18", pretrained=True)  # doctest: +SKIP
    """
    hubconf = import_module(repo_info, git_host, use_cache, commit, protocol)
    func = _entry(hubconf, entry)
    missing = [name for name in getattr(hubconf, HUBDEPENDENCY, None) or ()
               if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return func(*args, **kwargs)


def help(
    repo_info: str | os.PathLike,
    entry: str,
    git_host: str = DEFAULT_GIT_HOST,
    use_cache: bool = True,
    commit: str | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> str | None:
    """The docstring of ``entry`` in a repository's ``hubconf.py``.

    Example:
        >>> help("/path/to/mge", "resnet18")  # doctest: +SKIP
        'ResNet-18 ...'
    """
    return _entry(import_module(repo_info, git_host, use_cache, commit, protocol), entry).__doc__


def _cache_path(url: str, model_dir: str | None) -> str:
    """MegEngine's cache name: ``<model_dir>/<sha256(url)[:6]>_<file name>``."""
    if model_dir is None:
        model_dir = os.path.join(get_mge_home(), "serialized")
    filename = os.path.basename(urlparse(url).path)
    return os.path.join(model_dir, hashlib.sha256(url.encode()).hexdigest()[:6] + "_" + filename)


def load_serialized_obj_from_url(url: str, model_dir: str | None = None, *,
                                 sha256: str | None = None, check_hash: bool = False,
                                 progress: bool = True, weights_only: bool = True) -> Any:
    """Load an object saved with ``mge.save``/``megengine.save`` from a URL, through a cache.

    The file is kept as ``<model_dir>/<sha256(url)[:6]>_<file name>`` (default
    ``model_dir``: ``$MGE_HOME/serialized``) and downloaded only when missing; a file
    found there is used as is (downloads land there only once complete and verified).

    Args:
        url: ``http(s)://``, ``file://`` or a local path.
        model_dir: the cache directory.
        sha256: the expected sha256 of the file (full or a prefix of >= 6 hex digits).
        check_hash: when ``sha256`` is None, take it from the file name's last ``-``/``_``
            separated part if that is 6+ hex digits (``resnet18-5c106cde.pkl``: torch's
            convention; MegEngine never checks its names' suffixes, so this is opt-in).
        progress: show a progress bar on a terminal.
        weights_only: load with :func:`mge.load`'s restricted unpickler (data only, the
            default); False unpickles anything and can run code from the file.

    Raises:
        HTTPDownloadError: offline or on HTTP errors; the message names the URL and the
            cache path where the file can be placed by hand.
        ChecksumMismatchError: the downloaded data does not match; nothing is cached.
        pickle.UnpicklingError: the file does not load (truncated, not a pickle, or
            refused by ``weights_only``: ``WeightsOnlyUnpicklingError``); the message
            names the cache path, and the file is removed from the cache.

    Example:
        >>> state = load_serialized_obj_from_url("https://host/w.pkl")  # doctest: +SKIP
    """
    cached = _cache_path(url, model_dir)
    if sha256 is None and check_hash:
        found = _NAME_HASH.search(os.path.basename(urlparse(url).path))
        sha256 = found.group(1) if found else None
    if not os.path.exists(cached):
        download_url_to_file(url, cached, sha256=sha256, progress=progress)
    try:
        return _load_pickle(cached, weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - whatever broke, the file must not stay cached
        with contextlib.suppress(FileNotFoundError):
            os.remove(cached)
        error = WeightsOnlyUnpicklingError if isinstance(
            exc, WeightsOnlyUnpicklingError) else pickle.UnpicklingError
        raise error(
            f"mge.hub: the file downloaded from {url} to {cached} does not load "
            f"({type(exc).__name__}: {exc}); it was removed from the cache"
        ) from exc


class pretrained:
    """Decorate a model factory so that ``pretrained=True`` loads the weights at ``url``.

    The decorated function takes ``pretrained=False`` plus the factory's keyword
    arguments; with ``pretrained=True`` it calls :func:`load_serialized_obj_from_url` and
    ``model.load_state_dict`` on the result. ``.url`` gives the weights' URL.

    Example:
        >>> import mge.module as M
        >>> @pretrained("https://example.com/weights/fc_3f2a1b.pkl")
        ... def fc(**kwargs):
        ...     return M.Linear(4, 2, **kwargs)
        >>> fc().weight.shape, fc.url
        ((2, 4), 'https://example.com/weights/fc_3f2a1b.pkl')
    """

    def __init__(self, url: str, *, sha256: str | None = None) -> None:
        self.url = url
        self.sha256 = sha256

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def pretrained_model_func(pretrained: bool = False, **kwargs: Any) -> Any:
            model = func(**kwargs)
            if pretrained:
                model.load_state_dict(load_serialized_obj_from_url(self.url, sha256=self.sha256))
            return model

        pretrained_model_func.url = self.url  # type: ignore[attr-defined]
        return pretrained_model_func


__all__ = [
    "get_mge_home",
    "help",
    "import_module",
    "list",
    "load",
    "load_serialized_obj_from_url",
    "pretrained",
]
